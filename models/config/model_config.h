// The model hyper-parameters tspserve needs, read from a Hugging Face model directory
// (config.json and the optional generation_config.json) and written back in the same format.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/common/dtype.h"

namespace tspserve {

enum class Architecture { kLlama, kMistral, kQwen2, kQwen3 };

// The Hugging Face class name ("LlamaForCausalLM") and model_type ("llama") of an architecture.
std::string_view ArchitectureClassName(Architecture architecture);
std::string_view ArchitectureModelType(Architecture architecture);

enum class RopeScalingType { kNone, kLinear, kLlama3 };

// config.json "rope_scaling". kLinear uses only `factor`; kLlama3 uses all four numbers.
struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  double factor = 1;
  double low_freq_factor = 1;
  double high_freq_factor = 4;
  int64_t original_max_position_embeddings = 8192;

  bool operator==(const RopeScaling&) const = default;
};

struct ModelConfig {
  std::string architecture_name;  // "LlamaForCausalLM", ...: the first entry of "architectures"
  Architecture architecture = Architecture::kLlama;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;    // num_hidden_layers
  int64_t num_heads = 0;     // num_attention_heads
  int64_t num_kv_heads = 0;  // num_key_value_heads; divides num_heads
  int64_t head_dim = 0;      // may differ from hidden_size / num_heads (Qwen3)
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;  // lm_head.weight absent; the LM head reuses embed_tokens
  // Bias on the q/k/v projections: Qwen2 always, Llama and Qwen3 when "attention_bias" is true.
  bool attention_bias = false;
  // Bias on o_proj: Llama and Qwen3 when "attention_bias" is true (Qwen2 never has one).
  bool o_proj_bias = false;
  bool qk_norm = false;                   // RMSNorm over each q/k head before RoPE (Qwen3)
  std::optional<int64_t> sliding_window;  // tokens each query sees; nullopt = full attention
  std::optional<int32_t> bos_token_id;
  std::vector<int32_t> eos_token_ids;  // generation stops at any of these; may be empty
  DType dtype = DType::kF32;           // "torch_dtype": the checkpoint's float type

  bool operator==(const ModelConfig&) const = default;
};

// Parses the text of config.json and generation_config.json ("" when that file is absent;
// its bos/eos token ids override config.json's). Field names and defaults are Hugging Face's.
// `source_name` (usually the model directory) prefixes every error, which also names the
// file and the field at fault.
absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view config_json,
                                             std::string_view generation_config_json,
                                             std::string_view source_name);

// Reads <model_dir>/config.json and, when present, <model_dir>/generation_config.json.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);

// A config.json (and generation_config.json) that transformers loads as the same model and
// that ParseModelConfig reads back to an equal ModelConfig.
std::string ModelConfigToJson(const ModelConfig& config);
std::string GenerationConfigToJson(const ModelConfig& config);

}  // namespace tspserve
