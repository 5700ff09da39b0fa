// ModelConfigToJson and GenerationConfigToJson: the config.json side of ModelConfig.
#include <string>

#include "models/config/model_config.h"
#include "nlohmann/json.hpp"

namespace tspserve {
namespace {

using Json = nlohmann::ordered_json;

const char* TorchDTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF16:
      return "float16";
    case DType::kBF16:
      return "bfloat16";
    default:
      return "float32";
  }
}

Json RopeScalingJson(const RopeScaling& r) {
  switch (r.type) {
    case RopeScalingType::kNone:
      return nullptr;
    case RopeScalingType::kLinear:
      return Json{{"rope_type", "linear"}, {"factor", r.factor}};
    case RopeScalingType::kLlama3:
      return Json{{"rope_type", "llama3"},
                  {"factor", r.factor},
                  {"low_freq_factor", r.low_freq_factor},
                  {"high_freq_factor", r.high_freq_factor},
                  {"original_max_position_embeddings", r.original_max_position_embeddings}};
  }
  return nullptr;
}

Json TokenIdJson(const std::optional<int32_t>& id) { return id ? Json(*id) : Json(nullptr); }

Json EosJson(const std::vector<int32_t>& ids) {
  if (ids.empty()) return nullptr;
  if (ids.size() == 1) return ids[0];
  return ids;
}

// The per-architecture attention fields; each class reads only its own.
void AddAttentionVariant(const ModelConfig& c, Json& j) {
  switch (c.architecture) {
    case Architecture::kLlama:
      j["attention_bias"] = c.attention_bias;
      j["mlp_bias"] = false;
      break;
    case Architecture::kMistral:
      j["sliding_window"] = c.sliding_window ? Json(*c.sliding_window) : Json(nullptr);
      break;
    case Architecture::kQwen3:
      j["attention_bias"] = c.attention_bias;
      [[fallthrough]];
    case Architecture::kQwen2:
      j["use_sliding_window"] = c.sliding_window.has_value();
      j["sliding_window"] = c.sliding_window ? Json(*c.sliding_window) : Json(nullptr);
      j["max_window_layers"] = c.sliding_window ? 0 : c.num_layers;
      break;
  }
}

}  // namespace

std::string ModelConfigToJson(const ModelConfig& c) {
  Json j;
  j["architectures"] = Json::array({std::string(ArchitectureClassName(c.architecture))});
  j["model_type"] = std::string(ArchitectureModelType(c.architecture));
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["num_key_value_heads"] = c.num_kv_heads;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = RopeScalingJson(c.rope_scaling);
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  AddAttentionVariant(c, j);
  j["bos_token_id"] = TokenIdJson(c.bos_token_id);
  j["eos_token_id"] = EosJson(c.eos_token_ids);
  j["torch_dtype"] = TorchDTypeName(c.dtype);
  return j.dump(2) + "\n";
}

std::string GenerationConfigToJson(const ModelConfig& c) {
  Json j;
  j["bos_token_id"] = TokenIdJson(c.bos_token_id);
  j["eos_token_id"] = EosJson(c.eos_token_ids);
  return j.dump(2) + "\n";
}

}  // namespace tspserve
