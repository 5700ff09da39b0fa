// The LM head's vocabulary shards on the CPU backend, for the tests of sampling on the devices:
// each shard's race and candidates come from the CPU backend's ops (the reference the CUDA
// kernels are tested against), and SampleOnShards finishes every row as the LM head does
// (engine/parallel/lm_head.cc), nucleus search included.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <span>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/sampling/nucleus_search.h"
#include "engine/sampling/penalties.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/shard_sample.h"

namespace tspserve::testing_support {

// The per-shard results of `logits` [rows, vocab] split into `shards` column ranges of
// ceil(vocab / shards) columns (the last one padded), as the LM head's shards produce them.
// shard_logits keeps each shard's (penalized) logits [rows, shard_cols] for the nucleus search.
struct ShardedRun {
  std::vector<float> races, candidates;
  ShardSamples samples;
  int32_t shard_cols = 0;
  std::vector<int32_t> begin, valid;           // per shard: its first token, its token columns
  std::vector<std::vector<float>> shard_logits;
};

// `entries` (penalties and bans, PenaltyEntry::row indexing `params`) apply to each shard first.
ShardedRun RunShards(Backend& backend, const std::vector<float>& logits, int32_t rows, int32_t vocab,
                     int32_t shards, std::span<const RowSampling> params,
                     std::span<const PenaltyEntry> entries = {}) {
  const int32_t shard_cols = (vocab + shards - 1) / shards;
  int32_t k = 0;
  for (const RowSampling& p : params) k = std::max(k, p.candidates());
  ShardedRun run;
  run.shard_cols = shard_cols;
  run.races.resize(static_cast<size_t>(shards) * rows * 4);
  run.candidates.resize(static_cast<size_t>(shards) * rows * 2 * k);
  std::vector<int64_t> races;
  std::vector<float> temperatures;
  std::vector<float> penalties;
  for (const RowSampling& p : params) {
    races.push_back(static_cast<int64_t>(p.seed));
    races.push_back(static_cast<int64_t>(p.step));
    temperatures.push_back(p.temperature);
    penalties.insert(penalties.end(), {p.repetition_penalty, p.frequency_penalty, p.presence_penalty});
  }
  std::vector<int32_t> flat_entries;
  for (const PenaltyEntry& e : entries) flat_entries.insert(flat_entries.end(), {e.row, e.id, e.count});
  for (int32_t s = 0; s < shards; ++s) {
    const int32_t begin = s * shard_cols, valid = std::clamp(vocab - begin, 0, shard_cols);
    std::vector<float> shard(static_cast<size_t>(rows) * shard_cols, std::nanf(""));  // padding
    for (int32_t r = 0; r < rows; ++r) {
      std::copy_n(logits.begin() + r * vocab + begin, valid, shard.begin() + r * shard_cols);
    }
    const Tensor shard_logits(shard.data(), DType::kF32, {rows, shard_cols});
    backend.PenalizeLogits(shard_logits, valid, begin,
                           Tensor(flat_entries.data(), DType::kI32, {static_cast<int64_t>(entries.size()), 3}),
                           Tensor(penalties.data(), DType::kF32, {rows, 3}));
    backend.SampleRows(shard_logits, valid, begin, Tensor(races.data(), DType::kI64, {rows, 2}),
                       Tensor(temperatures.data(), DType::kF32, {rows}),
                       Tensor(run.races.data() + s * rows * 4, DType::kF32, {rows, 4}));
    run.begin.push_back(begin);
    run.valid.push_back(valid);
    run.shard_logits.push_back(shard);
    if (k > 0) {
      backend.TopCandidates(shard_logits, valid, begin,
                            Tensor(run.candidates.data() + static_cast<size_t>(s) * rows * 2 * k, DType::kF32, {rows, 2 * k}));
    }
  }
  run.samples = {shards, rows, k, run.races, run.candidates};
  return run;
}

SamplingParams ToParams(const RowSampling& row) {
  SamplingParams p;
  p.repetition_penalty = row.repetition_penalty;
  p.frequency_penalty = row.frequency_penalty;
  p.presence_penalty = row.presence_penalty;
  p.temperature = row.temperature;
  p.top_k = row.top_k;
  p.top_p = row.top_p;
  p.min_p = row.min_p;
  p.num_logprobs = row.num_logprobs;
  p.seed = row.seed;
  return p;
}

// Sampler::Sample over the whole row; `output` has row.step tokens.
SampledToken HostSample(const RowSampling& row, std::span<const float> logits, int32_t vocab,
                        std::span<const int32_t> prompt, std::span<const int32_t> output) {
  absl::StatusOr<Sampler> sampler = Sampler::Create(ToParams(row), vocab);
  EXPECT_TRUE(sampler.ok()) << sampler.status();
  absl::StatusOr<SampledToken> token = sampler->Sample(logits, prompt, output);
  EXPECT_TRUE(token.ok()) << token.status();
  return *token;
}

// Every row's token, as the LM head gives it: MergeShardSamples, then for the rows it leaves
// undecided the nucleus search over the shards' logits (which it masks) and the race again.
inline std::vector<absl::StatusOr<SampledToken>> SampleOnShards(Backend& backend, ShardedRun& run,
                                                                std::span<const RowSampling> params) {
  const int32_t rows = run.samples.rows, shards = run.samples.num_shards;
  std::vector<absl::StatusOr<SampledToken>> tokens(static_cast<size_t>(rows), absl::InternalError("unset"));
  std::vector<std::optional<NucleusStart>> starts(static_cast<size_t>(rows));
  bool search = false;
  for (int32_t r = 0; r < rows; ++r) {
    absl::StatusOr<std::optional<SampledToken>> merged = MergeShardSamples(run.samples, r, params[static_cast<size_t>(r)]);
    if (!merged.ok()) {
      tokens[static_cast<size_t>(r)] = merged.status();
    } else if (merged->has_value()) {
      tokens[static_cast<size_t>(r)] = **merged;
    } else {
      starts[static_cast<size_t>(r)] = StartOfNucleus(run.samples, r, params[static_cast<size_t>(r)]);
      search = true;
    }
  }
  if (!search) return tokens;
  auto shard_tensor = [&](int32_t s) { return Tensor(run.shard_logits[static_cast<size_t>(s)].data(), DType::kF32, {rows, run.shard_cols}); };
  NucleusSearch nucleus(params, starts);
  while (!nucleus.done()) {
    std::vector<int64_t> queries = nucleus.Queries();
    std::vector<float> scales = nucleus.Scales();
    std::vector<float> histograms(static_cast<size_t>(shards) * rows * 512);
    for (int32_t s = 0; s < shards; ++s) {
      backend.KeyHistogram(shard_tensor(s), run.valid[static_cast<size_t>(s)], run.begin[static_cast<size_t>(s)],
                           Tensor(queries.data(), DType::kI64, {rows, 2}), Tensor(scales.data(), DType::kF32, {rows, 2}),
                           Tensor(histograms.data() + static_cast<size_t>(s) * rows * 512, DType::kF32, {rows, 512}));
    }
    const absl::Status absorbed = nucleus.Absorb(histograms, shards);
    EXPECT_TRUE(absorbed.ok()) << absorbed;
    if (!absorbed.ok()) return tokens;
  }
  std::vector<int64_t> thresholds = nucleus.Thresholds();
  std::vector<int64_t> races;
  std::vector<float> temperatures;
  for (const RowSampling& p : params) {
    races.insert(races.end(), {static_cast<int64_t>(p.seed), static_cast<int64_t>(p.step)});
    temperatures.push_back(p.temperature);
  }
  std::vector<float> masked(static_cast<size_t>(shards) * rows * 4);
  for (int32_t s = 0; s < shards; ++s) {
    backend.MaskLogits(shard_tensor(s), run.valid[static_cast<size_t>(s)], run.begin[static_cast<size_t>(s)],
                       Tensor(thresholds.data(), DType::kI64, {rows}));
    backend.SampleRows(shard_tensor(s), run.valid[static_cast<size_t>(s)], run.begin[static_cast<size_t>(s)],
                       Tensor(races.data(), DType::kI64, {rows, 2}), Tensor(temperatures.data(), DType::kF32, {rows}),
                       Tensor(masked.data() + static_cast<size_t>(s) * rows * 4, DType::kF32, {rows, 4}));
  }
  for (int32_t r = 0; r < rows; ++r) {
    if (starts[static_cast<size_t>(r)].has_value()) {
      tokens[static_cast<size_t>(r)] = MergeMaskedRace(run.samples, masked, r, params[static_cast<size_t>(r)]);
    }
  }
  return tokens;
}

}  // namespace tspserve::testing_support
