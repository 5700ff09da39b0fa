// The CPU engine against Hugging Face transformers (the external oracle): for every test preset,
// the checkpoint `tspserve make-model` writes is loaded by our engine, and its tokenization,
// teacher-forced logits and greedy continuation are compared with what tests/golden/make_golden.py
// stored from transformers (fp32) for the same checkpoint.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "models/synthetic/make_model.h"
#include "tests/testing/float_file.h"

namespace tspserve {
namespace {

namespace fs = std::filesystem;

constexpr float kMaxLogitError = 1e-3f;

fs::path GoldenDir(const std::string& preset) {
  const char* root = std::getenv("TSPSERVE_SOURCE_DIR");
  return fs::path(root ? root : ".") / "tests" / "golden" / "data" / preset;
}

nlohmann::json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in);
}

using testing_util::ReadFloats;

class GoldenLogitsTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    golden_ = ReadJson(GoldenDir(GetParam()) / "golden.json");
    model_dir_ = fs::path(testing::TempDir()) / ("golden_" + GetParam());
    fs::remove_all(model_dir_);
    MakeModelOptions options;
    options.preset = GetParam();
    options.seed = golden_["seed"].get<uint64_t>();
    options.out_dir = model_dir_.string();
    ASSERT_TRUE(MakeModel(options).ok());
    EngineOptions engine_options;
    engine_options.model_dir = model_dir_.string();
    engine_options.kv_cache_bytes = 16 << 20;
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(engine_options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }
  void TearDown() override { fs::remove_all(model_dir_); }

  nlohmann::json golden_;
  fs::path model_dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_P(GoldenLogitsTest, TokenizationMatchesTokenizers) {
  for (const auto& prompt : golden_["prompts"]) {
    EXPECT_EQ(engine_->tokenizer().Encode(prompt["text"].get<std::string>(), true),
              prompt["ids"].get<std::vector<int32_t>>())
        << prompt["text"];
  }
}

TEST_P(GoldenLogitsTest, PromptLogitsMatchTransformers) {
  for (const auto& prompt : golden_["prompts"]) {
    const auto ids = prompt["ids"].get<std::vector<int32_t>>();
    const auto rows = prompt["rows"].get<std::vector<int32_t>>();
    const int64_t vocab = prompt["vocab_size"].get<int64_t>();
    ASSERT_EQ(vocab, engine_->config().vocab_size);
    const std::vector<float> expected =
        ReadFloats(GoldenDir(GetParam()) / prompt["logits_file"].get<std::string>());
    ASSERT_EQ(expected.size(), rows.size() * static_cast<size_t>(vocab));
    absl::StatusOr<std::vector<float>> logits = engine_->PromptLogits(ids);
    ASSERT_TRUE(logits.ok()) << logits.status();
    ASSERT_EQ(logits->size(), ids.size() * static_cast<size_t>(vocab));
    float max_error = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
      for (int64_t v = 0; v < vocab; ++v) {
        const float ours = (*logits)[static_cast<size_t>(rows[r] * vocab + v)];
        const float theirs = expected[r * static_cast<size_t>(vocab) + static_cast<size_t>(v)];
        max_error = std::max(max_error, std::fabs(ours - theirs));
      }
    }
    EXPECT_LT(max_error, kMaxLogitError) << GetParam() << " prompt of " << ids.size() << " tokens";
    std::printf("%s: %zu-token prompt, max abs logit error %.2e\n", GetParam().c_str(), ids.size(), max_error);
  }
  EXPECT_EQ(engine_->kv_cache().num_used_blocks(), 0) << "PromptLogits must free its pages";
}

TEST_P(GoldenLogitsTest, GreedyContinuationMatchesTransformers) {
  GenerateRequest request;
  request.prompt_tokens = golden_["greedy"]["prompt_ids"].get<std::vector<int32_t>>();
  const auto expected = golden_["greedy"]["tokens"].get<std::vector<int32_t>>();
  request.sampling.temperature = 0;
  request.stopping.max_tokens = static_cast<int32_t>(expected.size());
  request.stopping.ignore_eos = true;
  std::vector<GenerateRequest> batch;
  batch.push_back(request);
  // A second, shorter prompt in the same batch must not change the first one's tokens.
  GenerateRequest other = request;
  other.prompt_tokens.resize(3);
  batch.push_back(other);
  const std::vector<GenerateResult> results = engine_->Generate(std::move(batch));
  ASSERT_TRUE(results[0].status.ok()) << results[0].status;
  EXPECT_EQ(results[0].tokens, expected);
  EXPECT_EQ(results[0].finish_reason, FinishReason::kLength);
  EXPECT_EQ(engine_->kv_cache().num_used_blocks(), 0);
}

INSTANTIATE_TEST_SUITE_P(Presets, GoldenLogitsTest,
                         testing::Values("tiny", "small", "llama2-small", "mistral-small",
                                         "qwen2-small", "qwen3-small"),
                         [](const testing::TestParamInfo<std::string>& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name) if (c == '-') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace tspserve
