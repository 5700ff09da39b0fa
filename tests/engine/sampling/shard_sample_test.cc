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
#include "tests/engine/sampling/sharded_run.h"

namespace tspserve {
namespace {

using testing_support::HostSample;
using testing_support::RunShards;
using testing_support::SampleOnShards;
using testing_support::ShardedRun;

class ShardSampleTest : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> backend_ = MakeCpuBackend();
  std::mt19937 rng_{2024};
};

TEST_F(ShardSampleTest, EveryRowIsTheHostSamplersToken) {
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
      {0.7f, 10, 1.0f, 0.0f, 0, 1.0f, -0.5f, 1.0f},
      // Sets wider than the candidates, searched for on the shards:
      {4.0f, 0, 0.99f, 0.0f, 0}, {3.0f, 0, 1.0f, 0.001f, 2}, {6.0f, 0, 0.97f, 0.0005f, 0, 1.3f, 0.2f, 0.1f},
      {8.0f, 0, 0.5f, 0.0f, 1},
      // Top-k above what a shard lists (searched for by count), alone and with top-p and min-p
      // (hot enough that the cut matters):
      {8.0f, 1500, 1.0f, 0.0f, 2}, {8.0f, 3000, 0.9f, 0.0f, 0}, {6.0f, 2000, 0.95f, 0.01f, 0, 1.2f}};
  int searched = 0, total = 0;
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
      ShardedRun run = RunShards(*backend_, logits, rows, vocab, shards, params, entries);
      const std::vector<absl::StatusOr<SampledToken>> tokens = SampleOnShards(*backend_, run, params);
      for (int32_t r = 0; r < rows; ++r) {
        SCOPED_TRACE(::testing::Message() << "vocab " << vocab << ", " << shards << " shards, row " << r);
        const RowSampling& p = params[static_cast<size_t>(r)];
        absl::StatusOr<std::optional<SampledToken>> merged = MergeShardSamples(run.samples, r, p);
        ASSERT_TRUE(merged.ok()) << merged.status();
        ++total;
        if (!merged->has_value()) ++searched;
        const SampledToken want = HostSample(p, std::span<const float>(logits).subspan(static_cast<size_t>(r) * vocab, vocab),
                                             vocab, prompts[static_cast<size_t>(r)], outputs[static_cast<size_t>(r)]);
        ASSERT_TRUE(tokens[static_cast<size_t>(r)].ok()) << tokens[static_cast<size_t>(r)].status();
        const SampledToken& got = *tokens[static_cast<size_t>(r)];
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
  // The first round decides most rows; the wide settings' rows of the larger vocabularies are
  // searched for.
  EXPECT_GT(searched, 12) << searched << " of " << total << " rows searched for";
  EXPECT_LT(searched, total / 4) << searched << " of " << total << " rows searched for";
}

// Sets of thousands of tokens, with the last kept logit shared by tokens it does not keep (the
// all-equal rows keep the first 10% of the ids, or the first 1500), are searched for and sampled
// as the host does.
TEST_F(ShardSampleTest, ANucleusWiderThanTheCandidatesIsSearchedFor) {
  constexpr int32_t kVocab = 4000, kRows = 6;
  std::vector<float> logits(kRows * kVocab);
  std::uniform_real_distribution<float> tiny(-0.01f, 0.01f);
  std::uniform_int_distribution<int32_t> level(0, 3);
  for (int32_t c = 0; c < kVocab; ++c) {
    logits[c] = tiny(rng_);                                            // nearly equal
    logits[kVocab + c] = tiny(rng_);
    logits[2 * kVocab + c] = 0.5f;                                     // all equal
    logits[3 * kVocab + c] = 0.25f * static_cast<float>(level(rng_));  // four levels of ties
    logits[4 * kVocab + c] = 0.5f;
    logits[5 * kVocab + c] = 0.25f * static_cast<float>(level(rng_));
  }
  const auto row = [](int32_t top_k, float top_p, float min_p, uint64_t seed) {
    SamplingParams p;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    return *RowSampling::ForDevices(p, kVocab, seed, seed % 5);
  };
  for (const int32_t shards : {1, 2, 3}) {
    for (uint64_t seed = 1; seed <= 12; ++seed) {
      SCOPED_TRACE(::testing::Message() << shards << " shards, seed " << seed);
      const std::vector<RowSampling> params = {row(0, 0.9f, 0.0f, seed),    row(0, 1.0f, 0.5f, seed),
                                               row(0, 0.1f, 0.0f, seed),    row(0, 0.6f, 0.0f, seed),
                                               row(1500, 1.0f, 0.0f, seed), row(2500, 0.5f, 0.0f, seed)};
      ShardedRun run = RunShards(*backend_, logits, kRows, kVocab, shards, params);
      const std::vector<absl::StatusOr<SampledToken>> tokens = SampleOnShards(*backend_, run, params);
      for (int32_t r = 0; r < kRows; ++r) {
        absl::StatusOr<std::optional<SampledToken>> merged = MergeShardSamples(run.samples, r, params[static_cast<size_t>(r)]);
        ASSERT_TRUE(merged.ok()) << merged.status();
        EXPECT_FALSE(merged->has_value()) << "row " << r << " was decided without the search";
        const SampledToken want = HostSample(params[static_cast<size_t>(r)],
                                             std::span<const float>(logits).subspan(static_cast<size_t>(r) * kVocab, kVocab),
                                             kVocab, {}, std::vector<int32_t>(seed % 5));
        ASSERT_TRUE(tokens[static_cast<size_t>(r)].ok()) << tokens[static_cast<size_t>(r)].status();
        EXPECT_EQ(tokens[static_cast<size_t>(r)]->token, want.token) << "row " << r;
        EXPECT_NEAR(tokens[static_cast<size_t>(r)]->logprob, want.logprob, 1e-5) << "row " << r;
      }
    }
  }
}

TEST_F(ShardSampleTest, SettingsTheDevicesSample) {
  SamplingParams p;
  EXPECT_TRUE(RowSampling::ForDevices(p, 100, 0, 0).has_value());
  p.top_k = 100;  // the whole vocabulary: off
  EXPECT_EQ(RowSampling::ForDevices(p, 100, 0, 0)->top_k, 0);
  p.top_k = kMaxCandidates + 1;  // searched for on the devices
  EXPECT_EQ(RowSampling::ForDevices(p, 200000, 0, 0)->candidates(), kNucleusCandidates);
  p.num_logprobs = kMaxCandidates + 1;  // more alternatives than a shard lists: on the host
  EXPECT_FALSE(RowSampling::ForDevices(p, 200000, 0, 0).has_value());
  p.num_logprobs = 0;
  p.top_k = 0;
  p.presence_penalty = 0.5f;  // penalties are applied on the devices
  EXPECT_FALSE(RowSampling::ForDevices(p, 100, 0, 0)->raw_logprobs);
  p.num_logprobs = 2;  // with logprobs, of the raw logits, listed from them apart
  EXPECT_TRUE(RowSampling::ForDevices(p, 100, 0, 0)->raw_logprobs);
  EXPECT_EQ(RowSampling::ForDevices(p, 100, 0, 0)->candidates(), 0);
  p.presence_penalty = 0.0f;
  EXPECT_FALSE(RowSampling::ForDevices(p, 100, 0, 0)->raw_logprobs);
  EXPECT_TRUE(RowSampling::ForDevices(p, 100, 0, 0, /*has_banned_tokens=*/true)->raw_logprobs);
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
  EXPECT_FALSE(MayNeedNucleusSearch(params));
}

}  // namespace
}  // namespace tspserve
