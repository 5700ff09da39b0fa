// Decode steps recorded as CUDA graphs against the same steps run op by op: a batch of three
// prompts is prefilled, then decoded for eight steps (each step's tokens taken from the eager
// run, so both see the same inputs), by an executor with decode_graphs (warm-up, recording, then
// replays) and one without. Every step's logits must agree within bf16 noise (relative L2 under
// 1e-2: the recorded steps launch attention for bucketed key counts, which splits the keys
// differently) and pick the same argmax wherever the top-two margin exceeds 0.1; rank 0 must have
// replayed at least six of the steps. Skips without enough GPUs.
#include <algorithm>
#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/runtime/parallel_executor.h"
#include "engine/runtime/rank_devices.h"
#include "models/config/model_config.h"
#include "tests/testing/cuda_executor.h"
#include "tests/testing/synthetic_model.h"

namespace tspserve {
namespace {

std::string ModelDir() { return testing_support::SyntheticModelDir("small"); }


double RelativeL2(std::span<const float> got, std::span<const float> want) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    norm += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(diff / std::max(norm, 1e-30));
}

int32_t Argmax(std::span<const float> row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

float TopTwoMargin(std::span<const float> row) {
  std::vector<float> sorted(row.begin(), row.end());
  std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
  return sorted[0] - sorted[1];
}

// Two executors of the same model, one recording decode steps; RunBoth runs a plan on both.
class GpuDecodeGraphsTest : public testing::TestWithParam<ParallelConfig> {
 protected:
  void SetUp() override {
    if (AvailableDevices(Device::kCuda) < GetParam().degree) GTEST_SKIP() << "needs " << GetParam().degree << " GPUs";
    recorded_ = testing_support::MakeCudaExecutor(ModelDir(), GetParam(), /*decode_graphs=*/true);
    eager_ = testing_support::MakeCudaExecutor(ModelDir(), GetParam());
    ASSERT_TRUE(recorded_ && eager_);
  }

  // Runs `plan` on both executors, expects every row's logits to agree and returns the eager
  // run's (empty after a failed step).
  std::vector<float> RunBoth(const BatchPlan& plan, const std::string& what) {
    absl::StatusOr<StepOutput> want = eager_->Run(plan);
    absl::StatusOr<StepOutput> got = recorded_->Run(plan);
    EXPECT_TRUE(want.ok() && got.ok()) << what << ": " << want.status() << " / " << got.status();
    if (!want.ok() || !got.ok()) return {};
    const size_t vocab = static_cast<size_t>(want->vocab_size);
    for (size_t row = 0; row < want->logits.size() / vocab; ++row) {
      SCOPED_TRACE(::testing::Message() << what << ", row " << row);
      const std::span<const float> g = std::span<const float>(got->logits).subspan(row * vocab, vocab);
      const std::span<const float> w = std::span<const float>(want->logits).subspan(row * vocab, vocab);
      EXPECT_LT(RelativeL2(g, w), 1e-2);
      if (TopTwoMargin(w) > 0.1f) {
        EXPECT_EQ(Argmax(g), Argmax(w));
      }
    }
    return want->logits;
  }

  std::unique_ptr<ParallelExecutor> recorded_;
  std::unique_ptr<ParallelExecutor> eager_;
};

TEST_P(GpuDecodeGraphsTest, RecordedStepsMatchEagerOnes) {
  const std::vector<int32_t> lengths = {5, 23, 70};
  BatchPlan prefill;
  for (size_t s = 0; s < lengths.size(); ++s) {
    std::vector<int32_t> prompt;
    for (int32_t i = 0; i < lengths[s]; ++i) prompt.push_back((17 * i + 3 * static_cast<int32_t>(s) + 1) % 300);
    prefill.seqs.push_back({static_cast<SeqId>(s + 1), 0, lengths[s], prompt, /*wants_logits=*/true});
  }
  std::vector<float> logits = RunBoth(prefill, "prefill");
  ASSERT_FALSE(logits.empty());
  const size_t vocab = logits.size() / lengths.size();
  for (int32_t step = 0; step < 8; ++step) {
    BatchPlan decode;
    for (size_t s = 0; s < lengths.size(); ++s) {
      const int32_t token = Argmax(std::span<const float>(logits).subspan(s * vocab, vocab));
      decode.seqs.push_back({static_cast<SeqId>(s + 1), lengths[s] + step, 1, {token}, /*wants_logits=*/true});
    }
    logits = RunBoth(decode, "decode step " + std::to_string(step));
    ASSERT_FALSE(logits.empty());
  }
  EXPECT_GE(recorded_->replayed_decode_steps(), 6);
  std::printf("[gpu_decode_graphs] degree %d: %lld of 8 decode steps replayed\n", GetParam().degree,
              static_cast<long long>(recorded_->replayed_decode_steps()));
}

// A batch that changes as in serving: a sequence crosses the 256-key bucket (a new recorded
// shape), one finishes (fewer tokens a step), one joins through a prefill (an eager step between
// replays). Every step's logits must agree with an executor without graphs, as above, and most
// decode steps must still replay.
TEST_P(GpuDecodeGraphsTest, ChangingBatchesMatchEagerOnes) {
  struct Live {
    SeqId id;
    int32_t cached;  // tokens in the cache
    int32_t next;    // the token the next step appends (the eager run's argmax)
  };
  std::vector<Live> live;
  SeqId next_id = 1;
  auto join = [&](int32_t length) {
    BatchPlan plan;
    std::vector<int32_t> prompt;
    for (int32_t i = 0; i < length; ++i) prompt.push_back((11 * i + 7 * static_cast<int32_t>(next_id)) % 300);
    plan.seqs.push_back({next_id, 0, length, prompt, /*wants_logits=*/true});
    const std::vector<float> logits = RunBoth(plan, "prefill of " + std::to_string(length));
    ASSERT_FALSE(logits.empty());
    live.push_back({next_id++, length, Argmax(logits)});
  };
  for (int32_t length : {5, 70, 250}) join(length);
  for (int32_t step = 0; step < 40; ++step) {
    if (step == 12) {  // the first sequence finishes
      recorded_->kv_cache().Free(live.front().id);
      eager_->kv_cache().Free(live.front().id);
      live.erase(live.begin());
    }
    if (step == 24) join(40);
    BatchPlan decode;
    for (const Live& s : live) decode.seqs.push_back({s.id, s.cached, 1, {s.next}, /*wants_logits=*/true});
    const std::vector<float> logits = RunBoth(decode, "decode step " + std::to_string(step));
    ASSERT_FALSE(logits.empty());
    const size_t vocab = logits.size() / live.size();
    for (size_t i = 0; i < live.size(); ++i) {
      ++live[i].cached;
      live[i].next = Argmax(std::span<const float>(logits).subspan(i * vocab, vocab));
    }
  }
  // 40 decode steps over 4 shapes (3 sequences under 256 keys, over 256, 2 sequences, 3 again),
  // each warmed up and recorded once.
  EXPECT_GE(recorded_->replayed_decode_steps(), 30);
  std::printf("[gpu_decode_graphs] changing batches, degree %d: %lld of 40 decode steps replayed\n",
              GetParam().degree, static_cast<long long>(recorded_->replayed_decode_steps()));
}

INSTANTIATE_TEST_SUITE_P(Modes, GpuDecodeGraphsTest,
                         testing::Values(ParallelConfig{ParallelMode::kTsp, 1, DecodeSchedule::kWeightStationary},
                                         ParallelConfig{ParallelMode::kTsp, 2, DecodeSchedule::kWeightStationary},
                                         ParallelConfig{ParallelMode::kTsp, 2, DecodeSchedule::kBroadcast},
                                         ParallelConfig{ParallelMode::kTp, 2, DecodeSchedule::kWeightStationary},
                                         ParallelConfig{ParallelMode::kSp, 2, DecodeSchedule::kWeightStationary}),
                         testing_support::ParallelTestName);

}  // namespace
}  // namespace tspserve
