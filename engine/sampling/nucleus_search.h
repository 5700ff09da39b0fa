// The search for top-p and min-p sets wider than the candidates the shards list: the devices find
// the set's last token themselves, so the full logits still never leave them.
//
// A row's kept set is a prefix of its vocabulary sorted most likely first (Sampler's
// truncations), i.e. every token whose rank key (engine/common/rank_key.h) is at least the key of
// the last token kept. The search finds that key a byte at a time, most significant first:
//  - the four bytes of the logit by mass: each round every shard histograms the next byte of the
//    keys that agree with the bytes found so far (Backend::KeyHistogram), the host sums the
//    shards and walks the bins from the top until the kept mass reaches the top-p target, as
//    Sampler's TopPCount walks the sorted weights;
//  - then, only when the last token shares its logit with tokens it does not keep, the four bytes
//    of the id by count among those ties (lower ids are kept first).
// A min-p set needs no rounds: its last logit follows from the largest logit alone. Every rank
// runs the same search on the same gathered histograms, so all reach the same thresholds.
//
// Masses are summed per bin in a different order than Sampler's running sum: where the target
// falls within rounding of a token's cumulative mass, the two may keep one token more or less.
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
  enum class Phase { kIdle, kLogitByMass, kIdByCount, kDone };
  struct Row {
    Phase phase = Phase::kIdle;
    float max_logit = 0.0f;
    float temperature = 1.0f;
    double target = 0.0;        // top-p mass to reach, in units of the largest logit's weight
    double mass_above = 0.0;    // mass of the tokens above the current prefix's range
    int64_t ties_needed = 0;    // kIdByCount: how many of the last logit's ties are kept
    int64_t ties_above = 0;     // kIdByCount: ties above the current prefix's range
    uint64_t prefix = 0;        // the key bytes found so far
    int32_t shift = 56;         // the bit of the byte this round finds
    uint64_t min_p_key = 0;     // keys below it fail min-p (0: no min-p)
  };
  void AbsorbLogitByte(Row& row, std::span<const double> count, std::span<const double> mass);
  void AbsorbIdByte(Row& row, std::span<const double> count);

  std::vector<Row> rows_;
};

}  // namespace tspserve
