// The single-rank engine end to end on the tiny preset: batching, chunked prefill and preemption
// must not change any request's tokens; bad requests fail alone with a message naming the field.
#include "engine/engine.h"

#include <filesystem>

#include <gtest/gtest.h>

#include <future>

#include "models/synthetic/make_model.h"

namespace tspserve {
namespace {

namespace fs = std::filesystem;

class EngineTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_dir_ = new std::string((fs::path(testing::TempDir()) / "engine_test_tiny").string());
    fs::remove_all(*model_dir_);
    MakeModelOptions options;
    options.out_dir = *model_dir_;
    ASSERT_TRUE(MakeModel(options).ok());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*model_dir_);
    delete model_dir_;
  }

  static std::unique_ptr<Engine> MakeEngine(int32_t num_kv_blocks = 0, int32_t block_size = 16,
                                            int32_t max_batched_tokens = 8192, bool decode_graphs = false,
                                            bool sample_on_host = false, ParallelConfig parallel = {}) {
    EngineOptions options;
    options.parallel = parallel;
    options.decode_graphs = decode_graphs;
    options.sample_on_host = sample_on_host;
    options.model_dir = *model_dir_;
    options.kv_cache_bytes = 8 << 20;
    options.num_kv_blocks = num_kv_blocks;
    options.block_size = block_size;
    options.scheduler.max_batched_tokens = max_batched_tokens;
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }

  static GenerateRequest Greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
    GenerateRequest r;
    r.prompt_tokens = std::move(prompt);
    r.sampling.temperature = 0;
    r.stopping.max_tokens = max_tokens;
    r.stopping.ignore_eos = true;
    return r;
  }

  // Prompts of awkward lengths: 1, 5, 17 and 40 tokens.
  static std::vector<GenerateRequest> MixedBatch(int32_t max_tokens) {
    std::vector<GenerateRequest> batch;
    for (int32_t length : {1, 5, 17, 40}) {
      std::vector<int32_t> prompt;
      for (int32_t i = 0; i < length; ++i) prompt.push_back((7 * i + length) % 500);
      batch.push_back(Greedy(prompt, max_tokens));
    }
    return batch;
  }

  static std::vector<std::vector<int32_t>> Tokens(const std::vector<GenerateResult>& results) {
    std::vector<std::vector<int32_t>> tokens;
    for (const GenerateResult& r : results) {
      EXPECT_TRUE(r.status.ok()) << r.status;
      tokens.push_back(r.tokens);
    }
    return tokens;
  }

  static std::string* model_dir_;
};

std::string* EngineTest::model_dir_ = nullptr;

TEST_F(EngineTest, BatchedEqualsOneAtATime) {
  auto engine = MakeEngine();
  const auto batched = Tokens(engine->Generate(MixedBatch(12)));
  for (size_t i = 0; i < batched.size(); ++i) {
    std::vector<GenerateRequest> alone;
    alone.push_back(MixedBatch(12)[i]);
    EXPECT_EQ(Tokens(engine->Generate(std::move(alone)))[0], batched[i]) << "request " << i;
  }
  EXPECT_EQ(engine->kv_cache().num_used_blocks(), 0);
}

TEST_F(EngineTest, ChunkedPrefillAndOddPageSizesGiveTheSameTokens) {
  const auto expected = Tokens(MakeEngine()->Generate(MixedBatch(10)));
  EXPECT_EQ(Tokens(MakeEngine(0, 16, /*max_batched_tokens=*/7)->Generate(MixedBatch(10))), expected);
  EXPECT_EQ(Tokens(MakeEngine(0, /*block_size=*/3)->Generate(MixedBatch(10))), expected);
}

TEST_F(EngineTest, PreemptionByRecomputeKeepsEveryRequestsTokens) {
  const auto expected = Tokens(MakeEngine()->Generate(MixedBatch(24)));
  // 16 pages of 4 tokens: the four requests need 25..64 slots each, so they cannot all run at once.
  auto engine = MakeEngine(/*num_kv_blocks=*/16, /*block_size=*/4);
  const std::vector<GenerateResult> results = engine->Generate(MixedBatch(24));
  EXPECT_EQ(Tokens(results), expected);
  int32_t preemptions = 0;
  for (const GenerateResult& r : results) preemptions += r.num_preemptions;
  EXPECT_GT(preemptions, 0) << "the cache was meant to be too small to avoid preemption";
  EXPECT_EQ(engine->kv_cache().num_used_blocks(), 0);
}

TEST_F(EngineTest, InvalidRequestsFailAloneNamingTheField) {
  auto engine = MakeEngine();
  std::vector<GenerateRequest> batch;
  batch.push_back(Greedy({1, 2, 3}, 4));
  batch.push_back(Greedy({}, 4));
  batch.push_back(Greedy({1, 100000}, 4));
  GenerateRequest bad_temperature = Greedy({1, 2}, 4);
  bad_temperature.sampling.temperature = -1;
  batch.push_back(bad_temperature);
  GenerateRequest bad_top_p = Greedy({1, 2}, 4);
  bad_top_p.sampling.top_p = 0;
  batch.push_back(bad_top_p);
  batch.push_back(Greedy({1, 2}, 0));
  const std::vector<GenerateResult> results = engine->Generate(std::move(batch));
  EXPECT_TRUE(results[0].status.ok());
  EXPECT_EQ(results[0].tokens.size(), 4u);
  EXPECT_NE(results[1].status.message().find("empty"), std::string::npos) << results[1].status;
  EXPECT_NE(results[2].status.message().find("100000"), std::string::npos) << results[2].status;
  EXPECT_NE(results[3].status.message().find("temperature"), std::string::npos) << results[3].status;
  EXPECT_NE(results[4].status.message().find("top_p"), std::string::npos) << results[4].status;
  EXPECT_NE(results[5].status.message().find("max_tokens"), std::string::npos) << results[5].status;
  for (size_t i = 1; i < results.size(); ++i) {
    EXPECT_EQ(results[i].status.code(), absl::StatusCode::kInvalidArgument) << i;
    EXPECT_EQ(results[i].finish_reason, FinishReason::kError);
  }
}

TEST_F(EngineTest, RequestsThatCanNeverFitFailAtOnce) {
  auto engine = MakeEngine(/*num_kv_blocks=*/4, /*block_size=*/4);
  std::vector<GenerateRequest> batch;
  batch.push_back(Greedy(std::vector<int32_t>(10, 5), 10));  // 20 slots > 16
  batch.push_back(Greedy({1, 2}, 3));
  const std::vector<GenerateResult> results = engine->Generate(std::move(batch));
  EXPECT_EQ(results[0].status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(results[0].status.message().find("16"), std::string::npos) << results[0].status;
  EXPECT_TRUE(results[1].status.ok());
  std::vector<GenerateRequest> too_long;
  too_long.push_back(Greedy(std::vector<int32_t>(4090, 5), 10));  // past the 4096-token context
  EXPECT_NE(engine->Generate(std::move(too_long))[0].status.message().find("context"), std::string::npos);
}

TEST_F(EngineTest, StopStringEndsAndTruncatesTheText) {
  auto engine = MakeEngine();
  std::vector<GenerateRequest> batch;
  batch.push_back(Greedy({1, 2, 3, 4}, 24));
  const GenerateResult full = engine->Generate(std::move(batch))[0];
  // Pick a stop string from the middle of the greedy text (random weights: any text will do).
  const size_t cut = full.text.size() / 2;
  ASSERT_GT(full.text.size(), 4u);
  const std::string stop = full.text.substr(cut, 2);
  const size_t first = full.text.find(stop);
  GenerateRequest stopped = Greedy({1, 2, 3, 4}, 24);
  stopped.stopping.stop = {stop};
  std::vector<GenerateRequest> again;
  again.push_back(stopped);
  const GenerateResult result = engine->Generate(std::move(again))[0];
  EXPECT_EQ(result.finish_reason, FinishReason::kStop);
  EXPECT_EQ(result.matched_stop, stop);
  EXPECT_EQ(result.text, full.text.substr(0, first));
  EXPECT_LE(result.tokens.size(), full.tokens.size());
}

TEST_F(EngineTest, SameSeedSameSample) {
  auto engine = MakeEngine();
  auto sample = [&](uint64_t seed) {
    GenerateRequest r = Greedy({3, 1, 4, 1, 5}, 16);
    r.sampling.temperature = 1.0f;
    r.sampling.top_p = 0.9f;
    r.sampling.seed = seed;
    std::vector<GenerateRequest> batch;
    batch.push_back(r);
    return engine->Generate(std::move(batch))[0].tokens;
  };
  EXPECT_EQ(sample(7), sample(7));
  EXPECT_NE(sample(7), sample(8));
}

TEST_F(EngineTest, PromptLogitsMatchesTheLastStepOfGeneration) {
  auto engine = MakeEngine();
  const std::vector<int32_t> prompt = {9, 8, 7, 6, 5};
  absl::StatusOr<std::vector<float>> logits = engine->PromptLogits(prompt);
  ASSERT_TRUE(logits.ok());
  const int64_t vocab = engine->config().vocab_size;
  ASSERT_EQ(logits->size(), prompt.size() * static_cast<size_t>(vocab));
  const float* last = logits->data() + (prompt.size() - 1) * static_cast<size_t>(vocab);
  const int32_t argmax = static_cast<int32_t>(std::max_element(last, last + vocab) - last);
  std::vector<GenerateRequest> batch;
  batch.push_back(Greedy(prompt, 1));
  EXPECT_EQ(engine->Generate(std::move(batch))[0].tokens, std::vector<int32_t>{argmax});
  EXPECT_FALSE(engine->PromptLogits({}).ok());
}

// Requests are sampled on the devices (no logits to the host), penalties included, and on the
// host from full logits with EngineOptions::sample_on_host. Both draw the same race, so seeded
// requests get the same tokens either way.
// MixedBatch with seeded sampling: greedy, top-p, top-k with logprobs, min-p with penalties, and
// top-p and min-p sets wider than the candidates (searched for on the devices).
std::vector<GenerateRequest> SampledBatch(std::vector<GenerateRequest> batch) {
  batch[1].sampling.temperature = 0.8f;
  batch[1].sampling.top_p = 0.9f;
  batch[2].sampling.temperature = 1.0f;
  batch[2].sampling.top_k = 20;
  batch[2].sampling.num_logprobs = 3;
  batch[3].sampling.temperature = 0.7f;
  batch[3].sampling.min_p = 0.05f;
  batch[3].sampling.repetition_penalty = 1.3f;
  batch[3].sampling.frequency_penalty = 0.2f;
  for (int wide = 0; wide < 2; ++wide) {
    batch.push_back(batch[static_cast<size_t>(2 * wide)]);
    batch.back().sampling = SamplingParams();
    batch.back().sampling.temperature = 5.0f;
  }
  batch[4].sampling.top_p = 0.99f;
  batch[5].sampling.min_p = 0.001f;
  batch[5].sampling.num_logprobs = 2;
  for (size_t i = 0; i < batch.size(); ++i) batch[i].sampling.seed = 100 + i;
  return batch;
}

TEST_F(EngineTest, DeviceSamplingAgreesWithTheHostSampler) {
  auto sampled_batch = [] {
    std::vector<GenerateRequest> batch = SampledBatch(MixedBatch(12));
    batch.push_back(batch[1]);  // logprobs of a penalized row: of the raw logits
    batch.back().sampling.presence_penalty = 0.5f;
    batch.back().sampling.num_logprobs = 1;
    return batch;
  };
  const std::vector<GenerateResult> on_host =
      MakeEngine(0, 16, 8192, /*decode_graphs=*/false, /*sample_on_host=*/true)->Generate(sampled_batch());
  EXPECT_EQ(Tokens(MakeEngine()->Generate(sampled_batch())), Tokens(on_host));
  // Greedy requests take the same path; a logprob does not change their tokens.
  std::vector<GenerateRequest> full = MixedBatch(12);
  for (GenerateRequest& r : full) r.sampling.num_logprobs = 1;
  EXPECT_EQ(Tokens(MakeEngine()->Generate(MixedBatch(12))), Tokens(MakeEngine()->Generate(std::move(full))));
}

// The logprobs a request streams.
std::vector<SampledToken> StreamedLogprobs(Engine& engine, GenerateRequest request) {
  std::promise<void> finished;
  std::vector<SampledToken> logprobs;
  absl::StatusOr<uint64_t> id = engine.Submit(std::move(request), [&](const RequestOutput& out) {
    logprobs.insert(logprobs.end(), out.logprobs.begin(), out.logprobs.end());
    if (out.finished) finished.set_value();
  });
  EXPECT_TRUE(id.ok()) << id.status();
  if (id.ok()) finished.get_future().wait();
  return logprobs;
}

// A row whose logits the devices penalize (or whose tokens they ban) reports the logprobs of the
// raw logits, as the host Sampler does: each shard's raw race and candidates, and the sampled
// token's raw logit picked after the merge.
TEST_F(EngineTest, LogprobsOfPenalizedRowsAreOfTheRawLogits) {
  for (const float top_p : {1.0f, 0.9f}) {
    SCOPED_TRACE(::testing::Message() << "top_p " << top_p);
    GenerateRequest request = MixedBatch(10)[2];
    request.sampling.temperature = 0.8f;
    request.sampling.top_p = top_p;
    request.sampling.seed = 5;
    request.sampling.repetition_penalty = 1.3f;
    request.sampling.presence_penalty = 0.5f;
    request.sampling.num_logprobs = 3;
    const std::vector<SampledToken> want =
        StreamedLogprobs(*MakeEngine(0, 16, 8192, /*decode_graphs=*/false, /*sample_on_host=*/true), request);
    ASSERT_EQ(want.size(), 10u);
    // One rank, and the vocabulary split over three (the owner shard's raw logit is read).
    for (const ParallelConfig parallel : {ParallelConfig{}, ParallelConfig{ParallelMode::kTsp, 3}}) {
      SCOPED_TRACE(::testing::Message() << parallel.degree << " ranks");
      const std::vector<SampledToken> got =
          StreamedLogprobs(*MakeEngine(0, 16, 8192, /*decode_graphs=*/false, /*sample_on_host=*/false, parallel), request);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        SCOPED_TRACE(::testing::Message() << "token " << i);
        EXPECT_EQ(got[i].token, want[i].token);
        EXPECT_NEAR(got[i].logprob, want[i].logprob, 1e-4);
        ASSERT_EQ(got[i].top_logprobs.size(), 3u);
        for (size_t j = 0; j < 3; ++j) {
          EXPECT_EQ(got[i].top_logprobs[j].first, want[i].top_logprobs[j].first);
          EXPECT_NEAR(got[i].top_logprobs[j].second, want[i].top_logprobs[j].second, 1e-4);
        }
      }
    }
  }
}

// With decode graphs on the CPU (which cannot record), decode steps upload with fixed, bucketed
// shapes and run eagerly: the tokens must not change.
TEST_F(EngineTest, FixedDecodeShapesChangeNoToken) {
  EXPECT_EQ(Tokens(MakeEngine(0, 8, 8192, /*decode_graphs=*/true)->Generate(SampledBatch(MixedBatch(20)))),
            Tokens(MakeEngine(0, 8, 8192)->Generate(SampledBatch(MixedBatch(20)))));
}

}  // namespace
}  // namespace tspserve
