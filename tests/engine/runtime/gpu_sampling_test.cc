// Sampling on the GPUs against the host Sampler on the very same GPU logits: a batch of prompts
// with seeded temperature, penalties, top-k (with logprobs), top-p and min-p settings runs once sampled on
// the devices (Backend::SampleRows and ::TopCandidates over each rank's vocabulary shard, merged
// on the host, wide top-p and min-p sets searched for there) and once returning its fp32 logits, which Sampler::Sample draws from. The step is
// the same both times, so the logits are bit-identical and every token, logprob and top logprob
// must agree. One rank, and the vocabulary split over two or three (TSP, TP) or held by rank 0
// (SP); ranks beyond the GPUs share them (host-staged collectives). Skips without a GPU.
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/runtime/parallel_executor.h"
#include "engine/runtime/rank_devices.h"
#include "engine/sampling/penalties.h"
#include "engine/sampling/sampler.h"
#include "models/config/model_config.h"
#include "tests/testing/cuda_executor.h"
#include "tests/testing/synthetic_model.h"

namespace tspserve {
namespace {

constexpr int32_t kRows = 24;

std::string ModelDir() { return testing_support::SyntheticModelDir("small"); }

// Row r's settings: greedy, temperature (every other time with repetition and frequency
// penalties, applied on the devices, and logprobs, of the raw logits), top-p, top-k with
// logprobs, min-p, all at once.
SamplingParams ParamsOf(int32_t r, int32_t round) {
  SamplingParams p;
  p.seed = static_cast<uint64_t>(1000 * round + r);
  p.temperature = r % 6 == 0 ? 0.0f : 0.6f + 0.15f * static_cast<float>(r % 5);
  if (r % 6 == 2) p.top_p = 0.9f;
  if (r % 6 == 3) p.top_k = 40, p.num_logprobs = 5;
  if (r % 6 == 4) p.min_p = 0.05f;
  if (r % 6 == 5) p.top_k = 200, p.top_p = 0.8f, p.min_p = 0.02f;
  if (r % 12 == 1) p.repetition_penalty = 1.25f, p.frequency_penalty = 0.2f, p.num_logprobs = 2;  // raw logprobs
  if (r % 12 == 8) p.temperature = 4.0f, p.top_p = 0.99f;  // sets wider than the candidates:
  if (r % 12 == 10) p.temperature = 4.0f, p.min_p = 1e-3f;  // searched for on the devices
  return p;
}

BatchPlan PromptsPlan(int64_t vocab) {
  BatchPlan plan;
  for (int32_t r = 0; r < kRows; ++r) {
    const int32_t length = 1 + (r * 7) % 61;  // 1 to 61 tokens, none page-aligned for most
    std::vector<int32_t> prompt;
    for (int32_t i = 0; i < length; ++i) prompt.push_back(static_cast<int32_t>((13 * i + 5 * r + 1) % vocab));
    plan.seqs.push_back({static_cast<SeqId>(r + 1), 0, length, prompt, /*wants_logits=*/true});
  }
  return plan;
}

class GpuSamplingTest : public testing::TestWithParam<ParallelConfig> {};

TEST_P(GpuSamplingTest, DevicesDrawTheHostSamplersTokens) {
  const ParallelConfig parallel = GetParam();
  if (AvailableDevices(Device::kCuda) == 0) GTEST_SKIP() << "no CUDA device";
  std::unique_ptr<ParallelExecutor> executor = testing_support::MakeCudaExecutor(ModelDir(), parallel);
  ASSERT_TRUE(executor);
  const int32_t vocab = LoadModelConfig(ModelDir())->vocab_size;
  for (int32_t round = 0; round < 3; ++round) {
    BatchPlan sampled = PromptsPlan(vocab);
    const std::vector<int32_t> history(static_cast<size_t>(round), 0);  // `round` output tokens, all 0
    for (int32_t r = 0; r < kRows; ++r) {
      std::optional<RowSampling> row = RowSampling::ForDevices(ParamsOf(r, round), vocab, 1000 * round + r, round);
      ASSERT_TRUE(row.has_value());
      sampled.sampling.push_back(*row);
      AppendPenaltyEntries(ParamsOf(r, round), DistinctSorted(sampled.seqs[static_cast<size_t>(r)].token_ids), history,
                           {}, r, sampled.penalties);
    }
    absl::StatusOr<StepOutput> on_devices = executor->Run(sampled);
    ASSERT_TRUE(on_devices.ok()) << on_devices.status();
    for (const ScheduledSeq& e : sampled.seqs) executor->kv_cache().Free(e.seq_id);
    absl::StatusOr<StepOutput> logits = executor->Run(PromptsPlan(vocab));
    ASSERT_TRUE(logits.ok()) << logits.status();
    for (const ScheduledSeq& e : sampled.seqs) executor->kv_cache().Free(e.seq_id);
    ASSERT_EQ(on_devices->sampled.size(), static_cast<size_t>(kRows));
    for (int32_t r = 0; r < kRows; ++r) {
      SCOPED_TRACE(::testing::Message() << "round " << round << ", row " << r);
      const std::span<const float> row(logits->logits.data() + static_cast<size_t>(r) * vocab, static_cast<size_t>(vocab));
      absl::StatusOr<Sampler> sampler = Sampler::Create(ParamsOf(r, round), vocab);
      ASSERT_TRUE(sampler.ok()) << sampler.status();
      absl::StatusOr<SampledToken> want = sampler->Sample(row, sampled.seqs[static_cast<size_t>(r)].token_ids, history);
      ASSERT_TRUE(want.ok()) << want.status();
      const absl::StatusOr<SampledToken>& got = on_devices->sampled[static_cast<size_t>(r)];
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->token, want->token);
      const RowSampling& settings = sampled.sampling[static_cast<size_t>(r)];
      if (settings.penalized() && !settings.raw_logprobs) continue;  // logprob of the penalized logits
      EXPECT_NEAR(got->logprob, want->logprob, 1e-3);
      ASSERT_EQ(got->top_logprobs.size(), want->top_logprobs.size());
      for (size_t i = 0; i < want->top_logprobs.size(); ++i) {
        EXPECT_EQ(got->top_logprobs[i].first, want->top_logprobs[i].first);
        EXPECT_NEAR(got->top_logprobs[i].second, want->top_logprobs[i].second, 1e-3);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, GpuSamplingTest,
                         testing::Values(ParallelConfig{ParallelMode::kTsp, 1, DecodeSchedule::kWeightStationary},
                                         ParallelConfig{ParallelMode::kTsp, 2, DecodeSchedule::kWeightStationary},
                                         ParallelConfig{ParallelMode::kTsp, 3, DecodeSchedule::kWeightStationary},
                                         ParallelConfig{ParallelMode::kTp, 2, DecodeSchedule::kWeightStationary},
                                         ParallelConfig{ParallelMode::kSp, 2, DecodeSchedule::kWeightStationary}),
                         testing_support::ParallelTestName);

}  // namespace
}  // namespace tspserve
