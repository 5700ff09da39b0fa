// LlamaModel's building blocks on the CPU backend, on random weights of the tiny preset's shapes.
#include "models/llama_model.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "engine/parallel/shard_layout.h"
#include "models/synthetic/presets.h"

namespace tspserve {
namespace {

class LlamaModelTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ModelPreset> preset = FindModelPreset("tiny");
    ASSERT_TRUE(preset.ok());
    config_ = preset->config;
    config_.vocab_size = preset->tokenizer_vocab_size;
    absl::StatusOr<ShardLayout> layout = ShardLayout::Make(config_, ShardSpec{0, 1});
    ASSERT_TRUE(layout.ok());
    absl::StatusOr<ModelWeights> weights = MakeRandomWeights(config_, *layout, *backend_, 5);
    ASSERT_TRUE(weights.ok()) << weights.status();
    absl::StatusOr<std::unique_ptr<LlamaModel>> model =
        LlamaModel::Create(config_, *std::move(weights), *backend_, KvStorageOptions{4, 16, {}});
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
  }

  // out = Mlp(x) with scratch of `chunk` rows; x is [tokens, H].
  std::vector<float> RunMlp(std::vector<float>& x, int64_t tokens, int64_t chunk, bool accumulate) {
    const int64_t h = config_.hidden_size, inter = model_->weights().layers[0].mlp.down.dim(1);
    std::vector<float> gate_up(static_cast<size_t>(chunk * 2 * inter)), act(static_cast<size_t>(chunk * inter));
    std::vector<float> out(static_cast<size_t>(tokens * h), accumulate ? 0.5f : 0.0f);
    model_->Mlp(model_->weights().layers[0].mlp, Tensor(x.data(), DType::kF32, {tokens, h}),
                Tensor(gate_up.data(), DType::kF32, {chunk, 2 * inter}),
                Tensor(act.data(), DType::kF32, {chunk, inter}), Tensor(out.data(), DType::kF32, {tokens, h}),
                accumulate);
    return out;
  }

  ModelConfig config_;
  std::unique_ptr<Backend> backend_ = MakeCpuBackend();
  std::unique_ptr<LlamaModel> model_;
};

TEST_F(LlamaModelTest, MlpInTokenChunksEqualsOneBigChunk) {
  constexpr int64_t kTokens = 11;  // chunks of 3, 4 and 11 rows: uneven last chunks
  std::vector<float> x(static_cast<size_t>(kTokens * config_.hidden_size));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  for (bool accumulate : {false, true}) {
    const std::vector<float> whole = RunMlp(x, kTokens, kTokens, accumulate);
    for (int64_t chunk : {1, 3, 4}) {
      const std::vector<float> chunked = RunMlp(x, kTokens, chunk, accumulate);
      for (size_t i = 0; i < whole.size(); ++i) {
        ASSERT_NEAR(chunked[i], whole[i], 1e-5f * (1.0f + std::abs(whole[i]))) << "chunk " << chunk << " element " << i;
      }
    }
  }
  EXPECT_EQ(LlamaModel::MlpChunkRows(5), 5);
  EXPECT_EQ(LlamaModel::MlpChunkRows(1 << 20), LlamaModel::kMlpChunkTokens);
}

}  // namespace
}  // namespace tspserve
