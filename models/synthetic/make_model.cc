#include "models/synthetic/make_model.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"
#include "models/checkpoint/checkpoint_writer.h"
#include "models/synthetic/presets.h"
#include "models/synthetic/random_weights.h"
#include "models/tokenizer/bpe_trainer.h"
#include "models/tokenizer/tokenizer.h"

namespace tspserve {
namespace {

namespace fs = std::filesystem;

// One tensor of the checkpoint: its Hugging Face name, shape and how its values are drawn:
// uniform in [offset - scale, offset + scale).
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  float scale;
  float offset = 0;
};

// Uniform weights with unit gain: variance 1 / fan_in keeps activations O(1) through the layers.
float UnitGain(int64_t fan_in) { return std::sqrt(3.0f / static_cast<float>(fan_in)); }

std::vector<TensorSpec> TensorSpecs(const ModelConfig& c) {
  const int64_t h = c.hidden_size, d = c.head_dim, q = c.num_heads * d, kv = c.num_kv_heads * d;
  std::vector<TensorSpec> specs;
  specs.push_back({"model.embed_tokens.weight", {c.vocab_size, h}, 1.0f});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    specs.push_back({p + "input_layernorm.weight", {h}, 0.2f, 1.0f});
    specs.push_back({p + "self_attn.q_proj.weight", {q, h}, UnitGain(h)});
    specs.push_back({p + "self_attn.k_proj.weight", {kv, h}, UnitGain(h)});
    specs.push_back({p + "self_attn.v_proj.weight", {kv, h}, UnitGain(h)});
    if (c.attention_bias) {
      specs.push_back({p + "self_attn.q_proj.bias", {q}, 0.2f});
      specs.push_back({p + "self_attn.k_proj.bias", {kv}, 0.2f});
      specs.push_back({p + "self_attn.v_proj.bias", {kv}, 0.2f});
    }
    if (c.qk_norm) {
      specs.push_back({p + "self_attn.q_norm.weight", {d}, 0.2f, 1.0f});
      specs.push_back({p + "self_attn.k_norm.weight", {d}, 0.2f, 1.0f});
    }
    specs.push_back({p + "self_attn.o_proj.weight", {h, q}, UnitGain(q)});
    if (c.o_proj_bias) specs.push_back({p + "self_attn.o_proj.bias", {h}, 0.2f});
    specs.push_back({p + "post_attention_layernorm.weight", {h}, 0.2f, 1.0f});
    specs.push_back({p + "mlp.gate_proj.weight", {c.intermediate_size, h}, UnitGain(h)});
    specs.push_back({p + "mlp.up_proj.weight", {c.intermediate_size, h}, UnitGain(h)});
    specs.push_back({p + "mlp.down_proj.weight", {h, c.intermediate_size}, UnitGain(c.intermediate_size)});
  }
  specs.push_back({"model.norm.weight", {h}, 0.2f, 1.0f});
  // Logits with a spread of a few units, so greedy choices are clear-cut.
  if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", {c.vocab_size, h}, 3 * UnitGain(h)});
  return specs;
}

absl::Status WriteTensor(CheckpointWriter& writer, const TensorSpec& spec, DType dtype, uint64_t seed) {
  int64_t numel = 1;
  for (int64_t e : spec.shape) numel *= e;
  const RandomWeights random(seed, spec.name);
  constexpr int64_t kChunk = 1 << 20;
  std::vector<float> values(static_cast<size_t>(std::min(numel, kChunk)));
  std::vector<char> bytes(values.size() * DTypeSize(dtype));
  for (int64_t begin = 0; begin < numel; begin += kChunk) {
    const int64_t count = std::min(kChunk, numel - begin);
    random.FillUniform(begin, count, spec.scale, values.data());
    if (spec.offset != 0) {
      for (int64_t i = 0; i < count; ++i) values[static_cast<size_t>(i)] += spec.offset;
    }
    ConvertFromFloat(values.data(), static_cast<size_t>(count), dtype, bytes.data());
    RETURN_IF_ERROR(writer.WriteData(spec.name, bytes.data(),
                                     static_cast<size_t>(count) * DTypeSize(dtype)));
  }
  return absl::OkStatus();
}

absl::Status WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path.string()));
  return absl::OkStatus();
}

BpeTrainerOptions TokenizerOptions(const ModelPreset& preset) {
  BpeTrainerOptions options;
  options.style = preset.tokenizer_style;
  options.vocab_size = preset.tokenizer_vocab_size;
  if (preset.tokenizer_style == TokenizerStyle::kByteLevel) {
    options.special_tokens = {"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"};
    options.bos_token = "<|begin_of_text|>";
  } else {
    options.special_tokens = {"<unk>", "<s>", "</s>"};
    options.bos_token = "<s>";
  }
  return options;
}

// Trains the preset's tokenizer and fills in the config's vocabulary and bos/eos ids from it.
absl::StatusOr<std::string> MakeTokenizer(const ModelPreset& preset, ModelConfig& config) {
  const BpeTrainerOptions options = TokenizerOptions(preset);
  ASSIGN_OR_RETURN(std::string json, TrainBpeTokenizerJson(options));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromJson(json, "trained tokenizer"));
  if (config.vocab_size == 0) config.vocab_size = tokenizer->vocab_size();
  if (config.vocab_size < tokenizer->vocab_size()) {
    return absl::InternalError("preset vocabulary is smaller than its tokenizer's");
  }
  config.bos_token_id = tokenizer->TokenToId(options.special_tokens[0]);
  config.eos_token_ids.clear();
  for (size_t i = 1; i < options.special_tokens.size(); ++i) {
    if (auto id = tokenizer->TokenToId(options.special_tokens[i])) config.eos_token_ids.push_back(*id);
  }
  if (preset.tokenizer_style == TokenizerStyle::kMetaspace) {
    config.bos_token_id = tokenizer->TokenToId("<s>");
    config.eos_token_ids = {*tokenizer->TokenToId("</s>")};
  }
  return json;
}

absl::Status WriteWeights(const fs::path& dir, const ModelConfig& config, uint64_t seed,
                          int64_t max_shard_bytes) {
  CheckpointWriter writer(dir.string(), static_cast<uint64_t>(max_shard_bytes));
  const std::vector<TensorSpec> specs = TensorSpecs(config);
  for (const TensorSpec& spec : specs) RETURN_IF_ERROR(writer.AddTensor(spec.name, config.dtype, spec.shape));
  RETURN_IF_ERROR(writer.Begin());
  for (const TensorSpec& spec : specs) RETURN_IF_ERROR(WriteTensor(writer, spec, config.dtype, seed));
  return writer.Finish();
}

}  // namespace

absl::Status MakeModel(const MakeModelOptions& options) {
  ASSIGN_OR_RETURN(ModelPreset preset, FindModelPreset(options.preset));
  const fs::path dir(options.out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  ModelConfig config = preset.config;
  ASSIGN_OR_RETURN(std::string tokenizer_json, MakeTokenizer(preset, config));
  RETURN_IF_ERROR(WriteFile(dir / "tokenizer.json", tokenizer_json));
  RETURN_IF_ERROR(WriteFile(dir / "config.json", ModelConfigToJson(config)));
  RETURN_IF_ERROR(WriteFile(dir / "generation_config.json", GenerationConfigToJson(config)));
  return WriteWeights(dir, config, options.seed, options.max_shard_bytes);
}

absl::StatusOr<std::string> BuiltinModelDir() {
  fs::path cache;
  if (const char* env = std::getenv("TSPSERVE_CACHE_DIR"); env && *env) {
    cache = env;
  } else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    cache = fs::path(xdg) / "tspserve";
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    cache = fs::path(home) / ".cache" / "tspserve";
  } else {
    cache = fs::temp_directory_path() / "tspserve";
  }
  const fs::path dir = cache / "models" / "tiny-seed0";
  if (fs::exists(dir / "config.json")) return dir.string();
  // Build in a scratch folder and rename, so an interrupted run never leaves half a model.
  const fs::path scratch = cache / "models" / absl::StrCat(".tiny-seed0.partial.", ::getpid());
  MakeModelOptions options;
  options.out_dir = scratch.string();
  RETURN_IF_ERROR(MakeModel(options));
  std::error_code ec;
  fs::rename(scratch, dir, ec);
  if (ec && !fs::exists(dir / "config.json")) {
    return absl::InternalError(absl::StrCat("cannot move the built-in model into ", dir.string()));
  }
  fs::remove_all(scratch, ec);
  return dir.string();
}

}  // namespace tspserve
