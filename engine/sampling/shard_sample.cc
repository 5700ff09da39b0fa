#include "engine/sampling/shard_sample.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/common/race_key.h"
#include "engine/sampling/truncation.h"

namespace tspserve {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Candidate {
  float logit;
  int32_t id;
};

// Every shard's listed candidates of one row, most likely first. The first `covered` are exactly
// the vocabulary's most likely tokens in order: a shard that listed k candidates may hold more
// tokens, but none above its last listed logit, so everything strictly above the highest such
// logit is present. complete: no shard held back any token (covered == size).
struct MergedCandidates {
  std::vector<Candidate> sorted;
  size_t covered = 0;
  bool complete = true;
};

MergedCandidates MergeCandidates(const ShardSamples& in, int32_t row) {
  MergedCandidates merged;
  float bound = kNegInf;  // the highest last-listed logit of a shard that may hold back tokens
  for (int32_t s = 0; s < in.num_shards; ++s) {
    const float* list = in.candidates.data() + (static_cast<size_t>(s) * in.rows + row) * 2 * in.k;
    for (int32_t i = 0; i < in.k && list[2 * i + 1] >= 0; ++i) {
      merged.sorted.push_back({list[2 * i], static_cast<int32_t>(list[2 * i + 1])});
    }
    if (in.k > 0 && list[2 * in.k - 1] >= 0) {  // a full list: the shard may hold more
      bound = merged.complete ? list[2 * in.k - 2] : std::max(bound, list[2 * in.k - 2]);
      merged.complete = false;
    }
  }
  std::sort(merged.sorted.begin(), merged.sorted.end(), [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  });
  merged.covered = merged.sorted.size();
  if (!merged.complete) {
    merged.covered = static_cast<size_t>(
        std::find_if(merged.sorted.begin(), merged.sorted.end(), [&](const Candidate& c) { return c.logit <= bound; }) -
        merged.sorted.begin());
  }
  return merged;
}

// log(sum_s exp(values[s])) of column `column` of every shard's race result.
double CombinedLogSumExp(const ShardSamples& in, int32_t row, int column) {
  double max = -std::numeric_limits<double>::infinity();
  for (int32_t s = 0; s < in.num_shards; ++s) {
    max = std::max(max, static_cast<double>(in.races[(static_cast<size_t>(s) * in.rows + row) * 4 + column]));
  }
  if (!std::isfinite(max)) return max;
  double sum = 0;
  for (int32_t s = 0; s < in.num_shards; ++s) {
    sum += std::exp(in.races[(static_cast<size_t>(s) * in.rows + row) * 4 + column] - max);
  }
  return max + std::log(sum);
}

// True when a row's kept set may reach past the candidates: a top-p or min-p set without top-k,
// or a top-k above what a shard lists.
bool MayReachPastCandidates(const RowSampling& p) {
  return p.truncates() && (p.top_k == 0 || p.top_k > kMaxCandidates);
}

// How many of the merged candidates the row keeps (Sampler::Draw's top-k, top-p, min-p), or
// nullopt when that depends on tokens that were not listed.
std::optional<size_t> KeptCount(const MergedCandidates& merged, const RowSampling& p, double scaled_lse) {
  if (p.top_k > kMaxCandidates && !merged.complete) return std::nullopt;  // the shards listed fewer
  const double max_logit = merged.sorted.front().logit;
  auto weight = [&](size_t i) {  // as SoftmaxWeights computes it
    return std::exp((static_cast<double>(merged.sorted[i].logit) - max_logit) / p.temperature);
  };
  size_t kept = merged.sorted.size();
  if (p.top_k > 0) {
    kept = std::min(kept, static_cast<size_t>(p.top_k));  // exact: every shard listed its top k
    if (p.top_p < 1.0f) {
      std::vector<double> weights(kept);
      for (size_t i = 0; i < kept; ++i) weights[i] = weight(i);
      double total = 0;
      for (double w : weights) total += w;
      kept = static_cast<size_t>(TopPCount(weights, total, p.top_p));
    }
  } else if (p.top_p < 1.0f) {
    // The whole vocabulary's mass relative to the top token: exp(scaled_lse - max / T).
    const double target = p.top_p * std::exp(scaled_lse - max_logit / p.temperature);
    double before = 0;
    size_t i = 0;
    for (; i < merged.sorted.size(); ++i) {
      if (i > 0 && before >= target) break;
      if (i >= merged.covered) return std::nullopt;
      before += weight(i);
    }
    kept = i;
  }
  if (p.min_p > 0.0f) {  // weights fall along the list and the first weighs 1
    // A top-k prefix is exact past the covered entries; a min-p set alone is not.
    const size_t exact = p.top_k > 0 || merged.complete ? kept : std::min(kept, merged.covered);
    size_t i = 0;
    while (i < exact && weight(i) >= p.min_p) ++i;
    if (i == exact && exact < kept) return std::nullopt;
    kept = i;
  }
  return kept;
}

// Each shard's race winner of row `row` (races [num_shards][rows][4], as SampleRows writes them).
void EnterShardWinners(std::span<const float> races, int32_t num_shards, int32_t rows, int32_t row, RaceLeader& race) {
  for (int32_t s = 0; s < num_shards; ++s) {
    const float* winner = races.data() + (static_cast<size_t>(s) * rows + row) * 4;
    if (winner[1] >= 0) race.Enter(winner[0], static_cast<int64_t>(winner[1]));
  }
}

// The `count` most likely merged candidates with their logprobs against the log-sum-exp `lse`.
std::vector<std::pair<int32_t, float>> TopLogprobs(const MergedCandidates& merged, int32_t count, double lse) {
  std::vector<std::pair<int32_t, float>> top;
  const size_t alternatives = std::min(merged.sorted.size(), static_cast<size_t>(std::max(count, 0)));
  for (size_t i = 0; i < alternatives; ++i) {
    top.emplace_back(merged.sorted[i].id, static_cast<float>(merged.sorted[i].logit - lse));
  }
  return top;
}

// The sampled token of a finished race, its logprob against the log-sum-exp `lse`, and the row's
// top logprobs from the merged candidates.
absl::StatusOr<SampledToken> Sampled(const RaceLeader& race, double lse, const MergedCandidates& merged,
                                     const RowSampling& p) {
  if (race.id() < 0 || !std::isfinite(race.logit())) {
    return absl::InvalidArgumentError(absl::StrCat("the sampled token's logit is ", race.logit()));
  }
  SampledToken sampled;
  sampled.token = static_cast<int32_t>(race.id());
  sampled.logprob = static_cast<float>(race.logit() - lse);
  sampled.top_logprobs = TopLogprobs(merged, p.num_logprobs, lse);
  return sampled;
}

}  // namespace

std::optional<RowSampling> RowSampling::ForDevices(const SamplingParams& params, int32_t vocab_size,
                                                   uint64_t seed, uint64_t step, bool has_banned_tokens) {
  RowSampling row;
  row.temperature = params.temperature;
  row.top_k = params.top_k > 0 && params.top_k < vocab_size ? params.top_k : 0;
  row.top_p = params.top_p;
  row.min_p = params.min_p;
  row.num_logprobs = params.num_logprobs;
  row.repetition_penalty = params.repetition_penalty;
  row.frequency_penalty = params.frequency_penalty;
  row.presence_penalty = params.presence_penalty;
  row.seed = seed;
  row.step = step;
  row.raw_logprobs = row.num_logprobs > 0 && (row.penalized() || has_banned_tokens);
  if (row.num_logprobs > kMaxCandidates) return std::nullopt;
  return row;
}

bool MayNeedNucleusSearch(std::span<const RowSampling> rows) {
  return std::any_of(rows.begin(), rows.end(), MayReachPastCandidates);
}

int32_t CandidatesPerShard(std::span<const RowSampling> rows) {
  int32_t most = 0;
  for (const RowSampling& row : rows) most = std::max(most, row.candidates());
  return (most + 63) / 64 * 64;
}

int32_t RawCandidatesPerShard(std::span<const RowSampling> rows) {
  int32_t most = 0;
  for (const RowSampling& row : rows) {
    if (row.raw_logprobs) most = std::max(most, row.num_logprobs);
  }
  return (most + 63) / 64 * 64;
}

int32_t RowSampling::candidates() const {
  int32_t needed = raw_logprobs ? 0 : num_logprobs;  // raw_logprobs: listed from the raw logits
  if (truncates()) needed = std::max(needed, top_k > 0 && top_k <= kMaxCandidates ? top_k : kNucleusCandidates);
  return needed;
}

absl::StatusOr<std::optional<SampledToken>> MergeShardSamples(const ShardSamples& in, int32_t row,
                                                              const RowSampling& p) {
  const double lse = CombinedLogSumExp(in, row, 2);
  if (!std::isfinite(lse)) return absl::InvalidArgumentError(absl::StrCat("the logits are not finite (log-sum-exp ", lse, ")"));
  if (p.candidates() > in.k) {
    return absl::InternalError(absl::StrCat("row ", row, " needs ", p.candidates(), " candidates, the shards listed ", in.k));
  }
  MergedCandidates merged;
  if (p.candidates() > 0) merged = MergeCandidates(in, row);
  RaceLeader race(p.temperature, p.seed, p.step);
  if (p.truncates()) {
    if (merged.sorted.empty()) return absl::InternalError("no candidates for a truncated row");
    const std::optional<size_t> kept = KeptCount(merged, p, CombinedLogSumExp(in, row, 3));
    if (!kept.has_value()) return std::nullopt;
    for (size_t i = 0; i < *kept; ++i) race.Enter(merged.sorted[i].logit, merged.sorted[i].id);
  } else {
    EnterShardWinners(in.races, in.num_shards, in.rows, row, race);
  }
  return Sampled(race, lse, merged, p);
}

NucleusStart StartOfNucleus(const ShardSamples& in, int32_t row, const RowSampling& p) {
  const MergedCandidates merged = MergeCandidates(in, row);
  NucleusStart start;
  start.max_logit = merged.sorted.empty() ? 0.0f : merged.sorted.front().logit;
  if (p.top_k == 0 && p.top_p < 1.0f) {  // as KeptCount's target (within a top-k set, the search's)
    start.target = p.top_p * std::exp(CombinedLogSumExp(in, row, 3) - start.max_logit / p.temperature);
  }
  return start;
}

void AddRawLogprobs(const ShardSamples& raw, float raw_logit, int32_t row, const RowSampling& p,
                    SampledToken& token) {
  const double lse = CombinedLogSumExp(raw, row, 2);
  token.logprob = static_cast<float>(raw_logit - lse);
  token.top_logprobs = TopLogprobs(MergeCandidates(raw, row), p.num_logprobs, lse);
}

absl::StatusOr<SampledToken> MergeMaskedRace(const ShardSamples& first, std::span<const float> masked, int32_t row,
                                             const RowSampling& p) {
  const double lse = CombinedLogSumExp(first, row, 2);
  if (!std::isfinite(lse)) return absl::InvalidArgumentError(absl::StrCat("the logits are not finite (log-sum-exp ", lse, ")"));
  RaceLeader race(p.temperature, p.seed, p.step);
  EnterShardWinners(masked, first.num_shards, first.rows, row, race);
  return Sampled(race, lse, p.num_logprobs > 0 ? MergeCandidates(first, row) : MergedCandidates(), p);
}

}  // namespace tspserve
