// Sampling on the devices: each vocabulary shard of the LM head runs the race of its columns
// (Backend::SampleRows) and, where a row truncates or asks for logprobs, lists its most likely
// columns (Backend::TopCandidates); the host merges these few numbers per shard into the token.
// The merge reproduces Sampler::Sample (same race, same truncations) without the logits ever
// leaving the devices. A kept set that reaches past the candidates (a wide top-p or min-p set, a
// top-k above kMaxCandidates) leaves its row undecided after this first round: the devices then
// find the set's last token (engine/sampling/nucleus_search.h), mask the rest and race again
// (MergeMaskedRace).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/sampling_params.h"

namespace tspserve {

// Candidates each shard lists for a row that truncates with top-p or min-p only (or with a top-k
// above kMaxCandidates); a kept set of more tokens than the shards list together is searched for
// on the devices (nucleus_search.h).
inline constexpr int32_t kNucleusCandidates = 256;
// Most candidates a shard lists (Backend::TopCandidates' k): a top-k up to it is decided from
// the candidates, a larger one searched for.
inline constexpr int32_t kMaxCandidates = 1024;

// What the devices need to sample one row: a request's settings and the race's (seed, step).
// Penalties and banned tokens reach the devices as PenaltyEntry lists (penalties.h).
struct RowSampling {
  float temperature = 0.0f;  // 0: greedy
  int32_t top_k = 0;         // 0: off (also when it keeps the whole vocabulary)
  float top_p = 1.0f;
  float min_p = 0.0f;
  int32_t num_logprobs = 0;
  float repetition_penalty = 1.0f;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0;
  uint64_t step = 0;  // the output position being sampled
  // Logprobs of a row whose logits the devices alter (penalties, banned tokens) are of the raw
  // logits, as Sampler reports them: the raw logits race and list their candidates too, and the
  // sampled token's raw logit is picked after the merge (RawLogprobs).
  bool raw_logprobs = false;

  // Settings that can be sampled on the devices: a logprob count within kMaxCandidates. nullopt
  // otherwise.
  static std::optional<RowSampling> ForDevices(const SamplingParams& params, int32_t vocab_size,
                                               uint64_t seed, uint64_t step, bool has_banned_tokens = false);
  bool penalized() const {
    return repetition_penalty != 1.0f || frequency_penalty != 0.0f || presence_penalty != 0.0f;
  }
  bool truncates() const { return temperature > 0.0f && (top_k > 0 || top_p < 1.0f || min_p > 0.0f); }
  // Candidates per shard the row needs: 0 when the race winners alone decide it.
  int32_t candidates() const;
};

// The per-shard results of one step, as gathered on the host.
struct ShardSamples {
  int32_t num_shards = 0;
  int32_t rows = 0;
  int32_t k = 0;                      // candidates per row and shard (0: none listed)
  std::span<const float> races;       // [num_shards][rows][4]: Backend::SampleRows' out
  std::span<const float> candidates;  // [num_shards][rows][2k]: Backend::TopCandidates' out
};

// Candidates per shard a step lists: the most any of its rows needs, rounded up to a multiple of 64
// so that the step buffers keep their size from step to step.
int32_t CandidatesPerShard(std::span<const RowSampling> rows);
// Candidates per shard of the raw logits (the raw_logprobs rows' top logprobs), likewise; 0 when
// no row has raw_logprobs.
int32_t RawCandidatesPerShard(std::span<const RowSampling> rows);

// True when some row's kept set may reach past the candidates (a top-p or min-p set without
// top-k, or a top-k above kMaxCandidates), so that the step may have to search for it on the
// devices.
bool MayNeedNucleusSearch(std::span<const RowSampling> rows);

// The token of gathered row `row` sampled with `params` (its logprob is of the penalized logits
// where penalties applied); nullopt when its kept set reaches past the listed candidates (only
// where MayNeedNucleusSearch). InvalidArgument when the row's logits are not
// finite; InternalError when the shards listed fewer candidates than the row needs.
absl::StatusOr<std::optional<SampledToken>> MergeShardSamples(const ShardSamples& samples, int32_t row,
                                                              const RowSampling& params);

// Where the search for a row's wide kept set starts: the vocabulary's largest logit, and the
// top-p target mass in units of that logit's weight (weights exp((logit - max_logit) / T), as
// Sampler weighs them; 0 when the row has no top-p, or a top-k, within whose set the search
// finds the target itself).
struct NucleusStart {
  float max_logit = 0.0f;
  double target = 0.0;
};
NucleusStart StartOfNucleus(const ShardSamples& samples, int32_t row, const RowSampling& params);

// The token of a row whose kept set the devices left unmasked (Backend::MaskLogits at the
// search's threshold) and raced again: `masked` holds that race's results, [num_shards][rows][4]
// as Backend::SampleRows writes them. The logprob and top logprobs are of the first round's
// (unmasked) logits, as MergeShardSamples gives them.
absl::StatusOr<SampledToken> MergeMaskedRace(const ShardSamples& first, std::span<const float> masked, int32_t row,
                                             const RowSampling& params);

// Replaces the logprobs of `token`, sampled for a raw_logprobs row, with those of the raw logits:
// `raw` holds the raw logits' race results and candidates (RawCandidatesPerShard), `raw_logit`
// the raw logit of the sampled token.
void AddRawLogprobs(const ShardSamples& raw, float raw_logit, int32_t row, const RowSampling& params,
                    SampledToken& token);

}  // namespace tspserve
