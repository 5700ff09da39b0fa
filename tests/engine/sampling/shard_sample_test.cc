// Sampling on the devices against the host Sampler: the vocabulary is split into shards, each
// shard's race and candidates come from the CPU backend's ops (the reference the CUDA kernels are
// tested against), and the merged token must be the one Sampler::Sample draws from the full row.
#include "engine/sampling/shard_sample.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/sampling/penalties.h"

namespace tspserve {
namespace {

// The per-shard results of `logits` [rows, vocab] split into `shards` column ranges of
// ceil(vocab / shards) columns (the last one padded), as the LM head's shards produce them.
struct ShardedRun {
  std::vector<float> races, candidates;
  ShardSamples samples;
};

// `entries` (penalties and bans, PenaltyEntry::row indexing `params`) apply to each shard first.
ShardedRun RunShards(Backend& backend, const std::vector<float>& logits, int32_t rows, int32_t vocab,
                     int32_t shards, std::span<const RowSampling> params,
                     std::span<const PenaltyEntry> entries = {}) {
  const int32_t shard_cols = (vocab + shards - 1) / shards;
  int32_t k = 0;
  for (const RowSampling& p : params) k = std::max(k, p.candidates());
  ShardedRun run;
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

class ShardSampleTest : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> backend_ = MakeCpuBackend();
  std::mt19937 rng_{2024};
};

TEST_F(ShardSampleTest, EveryDecidedRowIsTheHostSamplersToken) {
  struct Settings {
    float temperature;
    int32_t top_k;
    float top_p, min_p;
    int32_t num_logprobs;
    float repetition = 1.0f, frequency = 0.0f, presence = 0.0f;
  };
  const std::vector<Settings> settings = {
      {0.0f, 0, 1.0f, 0.0f, 0},  {0.0f, 0, 1.0f, 0.0f, 5}, {1.0f, 0, 1.0f, 0.0f, 0},
      {0.7f, 0, 1.0f, 0.0f, 3},  {1.3f, 40, 1.0f, 0.0f, 0}, {1.0f, 7, 0.8f, 0.0f, 2},
      {1.0f, 0, 0.9f, 0.0f, 0},  {0.6f, 0, 0.5f, 0.0f, 1}, {1.0f, 0, 1.0f, 0.05f, 0},
      {0.8f, 0, 0.95f, 0.1f, 0}, {1.0f, 3, 1.0f, 0.2f, 4}, {2.0f, 1, 1.0f, 0.0f, 0},
      {0.0f, 0, 1.0f, 0.0f, 0, 1.5f},  {1.0f, 0, 0.9f, 0.0f, 0, 1.2f, 0.4f, 0.3f},
      {0.7f, 10, 1.0f, 0.0f, 0, 1.0f, -0.5f, 1.0f}};
  int decided = 0, total = 0;
  for (const int32_t vocab : {1, 37, 1237, 5000}) {
    for (const int32_t shards : {1, 2, 3, 4}) {
      const int32_t rows = static_cast<int32_t>(settings.size());
      std::normal_distribution<float> normal(0.0f, vocab > 1000 ? 2.5f : 1.0f);
      std::vector<float> logits(static_cast<size_t>(rows) * vocab);
      for (float& x : logits) x = std::round(normal(rng_) * 8.0f) / 8.0f;  // equal logits are common
      std::vector<RowSampling> params;
      std::vector<PenaltyEntry> entries;
      std::vector<std::vector<int32_t>> prompts, outputs;  // each row's history
      std::uniform_int_distribution<int32_t> token(0, vocab - 1);
      for (int32_t r = 0; r < rows; ++r) {
        const Settings& s = settings[static_cast<size_t>(r)];
        SamplingParams p;
        p.temperature = s.temperature;
        p.top_k = std::min(s.top_k, vocab);
        p.top_p = s.top_p;
        p.min_p = s.min_p;
        p.num_logprobs = std::min(s.num_logprobs, vocab);
        p.repetition_penalty = s.repetition;
        p.frequency_penalty = s.frequency;
        p.presence_penalty = s.presence;
        const uint64_t step = static_cast<uint64_t>(vocab % 7 + r);
        std::optional<RowSampling> row = RowSampling::ForDevices(p, vocab, 1000 + r, step);
        ASSERT_TRUE(row.has_value());
        params.push_back(*row);
        prompts.emplace_back(17);
        outputs.emplace_back(step);
        for (int32_t& id : prompts.back()) id = token(rng_);
        for (int32_t& id : outputs.back()) id = token(rng_);
        AppendPenaltyEntries(p, DistinctSorted(prompts.back()), outputs.back(), {}, r, entries);
      }
      const ShardedRun run = RunShards(*backend_, logits, rows, vocab, shards, params, entries);
      for (int32_t r = 0; r < rows; ++r) {
        SCOPED_TRACE(::testing::Message() << "vocab " << vocab << ", " << shards << " shards, row " << r);
        const RowSampling& p = params[static_cast<size_t>(r)];
        absl::StatusOr<std::optional<SampledToken>> merged = MergeShardSamples(run.samples, r, p);
        ASSERT_TRUE(merged.ok()) << merged.status();
        ++total;
        if (!merged->has_value()) continue;
        ++decided;
        const SampledToken want = HostSample(p, std::span<const float>(logits).subspan(static_cast<size_t>(r) * vocab, vocab),
                                             vocab, prompts[static_cast<size_t>(r)], outputs[static_cast<size_t>(r)]);
        const SampledToken& got = **merged;
        EXPECT_EQ(got.token, want.token);
        if (p.penalized()) continue;  // its logprob is of the penalized logits, and never asked for
        EXPECT_NEAR(got.logprob, want.logprob, 1e-5);
        ASSERT_EQ(got.top_logprobs.size(), want.top_logprobs.size());
        for (size_t i = 0; i < want.top_logprobs.size(); ++i) {
          EXPECT_EQ(got.top_logprobs[i].first, want.top_logprobs[i].first);
          EXPECT_NEAR(got.top_logprobs[i].second, want.top_logprobs[i].second, 1e-5);
        }
      }
    }
  }
  EXPECT_GT(decided, total * 9 / 10) << decided << " of " << total << " rows decided on the devices";
}

TEST_F(ShardSampleTest, ANucleusWiderThanTheCandidatesIsLeftToTheFullRow) {
  constexpr int32_t kVocab = 4000, kShards = 2;
  std::vector<float> flat(2 * kVocab);
  std::uniform_real_distribution<float> tiny(-0.01f, 0.01f);
  for (float& x : flat) x = tiny(rng_);
  SamplingParams nucleus;
  nucleus.top_p = 0.9f;  // ~3600 nearly equal tokens
  SamplingParams min_p;
  min_p.min_p = 0.5f;  // every token passes
  const std::vector<RowSampling> params = {*RowSampling::ForDevices(nucleus, kVocab, 1, 0),
                                           *RowSampling::ForDevices(min_p, kVocab, 1, 0)};
  const ShardedRun run = RunShards(*backend_, flat, 2, kVocab, kShards, params);
  for (int32_t r = 0; r < 2; ++r) {
    absl::StatusOr<std::optional<SampledToken>> merged = MergeShardSamples(run.samples, r, params[static_cast<size_t>(r)]);
    ASSERT_TRUE(merged.ok()) << merged.status();
    EXPECT_FALSE(merged->has_value()) << "row " << r;
  }
  // With a vocabulary the candidates hold entirely, the same rows are decided.
  const ShardedRun small = RunShards(*backend_, flat, 2, 200, 1, params);
  EXPECT_TRUE(MergeShardSamples(small.samples, 0, params[0])->has_value());
}

TEST_F(ShardSampleTest, SettingsTheDevicesCannotSampleStayOnTheHost) {
  SamplingParams p;
  EXPECT_TRUE(RowSampling::ForDevices(p, 100, 0, 0).has_value());
  p.top_k = 100;  // the whole vocabulary: off
  EXPECT_EQ(RowSampling::ForDevices(p, 100, 0, 0)->top_k, 0);
  p.top_k = kMaxCandidates + 1;
  EXPECT_FALSE(RowSampling::ForDevices(p, 200000, 0, 0).has_value());
  p.top_k = 0;
  p.presence_penalty = 0.5f;  // penalties are applied on the devices, unless logprobs are asked for
  EXPECT_TRUE(RowSampling::ForDevices(p, 100, 0, 0).has_value());
  p.num_logprobs = 2;
  EXPECT_FALSE(RowSampling::ForDevices(p, 100, 0, 0).has_value());
  p.presence_penalty = 0.0f;
  EXPECT_TRUE(RowSampling::ForDevices(p, 100, 0, 0).has_value());
  EXPECT_FALSE(RowSampling::ForDevices(p, 100, 0, 0, /*has_banned_tokens=*/true).has_value());
  p.num_logprobs = 0;
  p.temperature = 0.0f;
  p.top_p = 0.5f;  // greedy ignores truncation
  EXPECT_EQ(RowSampling::ForDevices(p, 100, 0, 0)->candidates(), 0);
}

TEST_F(ShardSampleTest, NonFiniteLogitsAreAnErrorOfTheRow) {
  std::vector<float> logits = {1.0f, std::nanf(""), 0.5f, 2.0f};
  SamplingParams p;
  const std::vector<RowSampling> params = {*RowSampling::ForDevices(p, 4, 3, 0)};
  const ShardedRun run = RunShards(*backend_, logits, 1, 4, 2, params);
  EXPECT_EQ(MergeShardSamples(run.samples, 0, params[0]).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(MayNeedFullRows(params));
}

}  // namespace
}  // namespace tspserve
