// Synthetic checkpoints: deterministic bytes, sharding with an index, every preset's config valid.
#include "models/synthetic/make_model.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "models/checkpoint/checkpoint.h"
#include "models/config/model_config.h"
#include "models/synthetic/presets.h"

namespace tspserve {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path Make(const std::string& name, const std::string& preset, uint64_t seed,
              int64_t max_shard_bytes = 2ll << 30) {
  const fs::path dir = fs::path(testing::TempDir()) / name;
  fs::remove_all(dir);
  MakeModelOptions options;
  options.preset = preset;
  options.seed = seed;
  options.out_dir = dir.string();
  options.max_shard_bytes = max_shard_bytes;
  const absl::Status status = MakeModel(options);
  EXPECT_TRUE(status.ok()) << status;
  return dir;
}

TEST(MakeModelTest, SameSeedSameBytesOtherSeedOtherWeights) {
  const fs::path a = Make("mm_a", "tiny", 5), b = Make("mm_b", "tiny", 5), c = Make("mm_c", "tiny", 6);
  for (const char* file : {"model.safetensors", "tokenizer.json", "config.json", "generation_config.json"}) {
    EXPECT_EQ(ReadAll(a / file), ReadAll(b / file)) << file;
  }
  EXPECT_NE(ReadAll(a / "model.safetensors"), ReadAll(c / "model.safetensors"));
  EXPECT_EQ(ReadAll(a / "tokenizer.json"), ReadAll(c / "tokenizer.json"));
}

TEST(MakeModelTest, ShardedCheckpointLoadsToTheSameLogits) {
  const fs::path single = Make("mm_single", "qwen2-small", 3);
  const fs::path sharded = Make("mm_sharded", "qwen2-small", 3, /*max_shard_bytes=*/400 << 10);
  EXPECT_FALSE(fs::exists(sharded / "model.safetensors"));
  ASSERT_TRUE(fs::exists(sharded / "model.safetensors.index.json"));
  int shards = 0;
  for (const auto& entry : fs::directory_iterator(sharded)) {
    if (entry.path().extension() == ".safetensors") ++shards;
  }
  EXPECT_GT(shards, 2);
  auto logits = [](const fs::path& dir) {
    EngineOptions options;
    options.model_dir = dir.string();
    options.kv_cache_bytes = 4 << 20;
    auto engine = Engine::Create(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return *(*engine)->PromptLogits(std::vector<int32_t>{1, 2, 3, 4, 5});
  };
  EXPECT_EQ(logits(single), logits(sharded));
}

TEST(MakeModelTest, EveryPresetHasAValidConfig) {
  for (const ModelPreset& preset : ModelPresets()) {
    ModelConfig config = preset.config;
    if (config.vocab_size == 0) config.vocab_size = preset.tokenizer_vocab_size;
    const absl::StatusOr<ModelConfig> parsed =
        ParseModelConfig(ModelConfigToJson(config), GenerationConfigToJson(config), preset.name);
    ASSERT_TRUE(parsed.ok()) << preset.name << ": " << parsed.status();
    if (config.dtype == DType::kF32) {  // the test presets shard over 1, 2, 3 and 4 ranks
      EXPECT_EQ(parsed->num_heads % 12, 0) << preset.name;
    }
  }
  EXPECT_FALSE(FindModelPreset("nope").ok());
}

TEST(MakeModelTest, UnwritableOutputIsAnError) {
  MakeModelOptions options;
  options.out_dir = "/proc/tspserve-cannot-write-here";
  EXPECT_FALSE(MakeModel(options).ok());
}

}  // namespace
}  // namespace tspserve
