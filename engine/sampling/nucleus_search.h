// The search for truncated sets wider than the candidates the shards list (a top-p or min-p set,
// or a top-k above kMaxCandidates): the devices find the set's last token themselves, so the full
// logits still never leave them.
//
// A row's kept set is a prefix of its vocabulary sorted most likely first (Sampler's
// truncations), i.e. every token whose rank key (engine/common/rank_key.h) is at least the key of
// the last token kept. The search finds that key a byte at a time, most significant first: each
// round every shard histograms the next byte of the keys that agree with the bytes found so far
// (Backend::KeyHistogram: counts and masses per byte value), the host sums the shards and walks
// the bins from the top
//  - by count for a top-k: until the k-th token (Sampler's TopIndices);
//  - by mass for a top-p: until the kept mass reaches the target (Sampler's TopPCount; of the
//    whole vocabulary, or of the top-k set found first), then, only when the last kept logit is
//    shared by tokens the set does not keep, by count among those ties (lower ids first).
// A walk stops as soon as a bin holds exactly the tokens still needed. A min-p set needs no rounds:
// its last logit follows from the largest logit alone. Every rank runs the same search on the
// same gathered histograms, so all reach the same thresholds.
//
// Masses are summed per bin in a different order than Sampler's running sum: where a top-p
// target falls within rounding of a token's cumulative mass, the two may keep one token more or
// less.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "engine/sampling/shard_sample.h"

namespace tspserve {

class NucleusSearch {
 public:
  // rows: every row of the step; starts[r]: set for the rows to search (MergeShardSamples left
  // them undecided), from StartOfNucleus.
  NucleusSearch(std::span<const RowSampling> rows, std::span<const std::optional<NucleusStart>> starts);

  bool done() const;
  // This round's KeyHistogram arguments: queries I64 [R, 2] (prefix, shift; shift -1 for rows
  // not searched this round) and scales F32 [R, 2] (largest logit, temperature).
  std::vector<int64_t> Queries() const;
  std::vector<float> Scales() const;
  // Takes this round's histograms, every shard's [num_shards][R][512] as KeyHistogram wrote them.
  // InternalError when a searched row's histogram is empty (the shards disagree with the first
  // round).
  absl::Status Absorb(std::span<const float> histograms, int32_t num_shards);
  // Per row, MaskLogits' threshold: the rank key of the last token kept for the rows searched, 0
  // (keep everything) for the others. Only once done().
  std::vector<int64_t> Thresholds() const;

 private:
  enum class Stage { kIdle, kTopK, kTopP, kDone };
  struct Row {
    Stage stage = Stage::kIdle;
    bool by_count = false;    // this stage's walk: by count (a top-k; a top-p set's last ties)
    float max_logit = 0.0f;
    float temperature = 1.0f;
    float top_p = 1.0f;
    double target = 0.0;      // by mass: the mass to reach, in units of the largest logit's weight
    double mass_above = 0.0;  // mass of the tokens above the prefix's range
    int64_t needed = 0;       // by count: tokens to keep from the top of the walk's range
    int64_t count_above = 0;  // by count: tokens above the prefix's range
    uint64_t prefix = 0;      // the key bytes found so far
    int32_t shift = 56;       // the bit of the byte this round finds
    uint64_t top_k_key = 0;   // the stages' results (0: no such truncation)
    uint64_t top_p_key = 0;
    uint64_t min_p_key = 0;
  };
  static bool searching(const Row& row) { return row.stage == Stage::kTopK || row.stage == Stage::kTopP; }
  static void AbsorbByCount(Row& row, std::span<const double> count, std::span<const double> mass);
  static void AbsorbByMass(Row& row, std::span<const double> count, std::span<const double> mass);
  // The current stage kept every key >= `key`; the next stage starts, if any.
  static void FinishStage(Row& row, uint64_t key);

  std::vector<Row> rows_;
};

}  // namespace tspserve
