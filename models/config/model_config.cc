#include "models/config/model_config.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/status.h"
#include "models/config/json_fields.h"
#include "nlohmann/json.hpp"

namespace tspserve {
namespace {

using Json = nlohmann::json;

struct ArchitectureTraits {
  const char* class_name;
  const char* model_type;
  Architecture architecture;
  int64_t default_max_position_embeddings;  // the transformers config class default
  bool default_special_tokens;  // bos 1 and eos 2 when config.json omits them (Llama, Mistral)
};

constexpr ArchitectureTraits kArchitectures[] = {
    {"LlamaForCausalLM", "llama", Architecture::kLlama, 2048, true},
    {"MistralForCausalLM", "mistral", Architecture::kMistral, 131072, true},
    {"Qwen2ForCausalLM", "qwen2", Architecture::kQwen2, 32768, false},
    {"Qwen3ForCausalLM", "qwen3", Architecture::kQwen3, 32768, false},
};

const ArchitectureTraits& Traits(Architecture architecture) {
  for (const ArchitectureTraits& t : kArchitectures) {
    if (t.architecture == architecture) return t;
  }
  return kArchitectures[0];
}

std::string SupportedArchitectures() {
  std::vector<std::string> names;
  for (const ArchitectureTraits& t : kArchitectures) names.push_back(t.class_name);
  return absl::StrJoin(names, ", ");
}

// "architectures"[0], or the class of "model_type" when "architectures" is absent.
absl::StatusOr<const ArchitectureTraits*> ReadArchitecture(const JsonFields& f) {
  std::string name;
  if (f.Has("architectures")) {
    ASSIGN_OR_RETURN(std::vector<std::string> list, f.StringList("architectures"));
    if (list.empty()) return f.Error("architectures", "is an empty list");
    name = list[0];
    for (const ArchitectureTraits& t : kArchitectures) {
      if (name == t.class_name) return &t;
    }
  } else {
    ASSIGN_OR_RETURN(name, f.String("model_type"));
    for (const ArchitectureTraits& t : kArchitectures) {
      if (name == t.model_type) return &t;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(f.file(), ": unsupported architecture \"", name,
                                                 "\" (supported: ", SupportedArchitectures(), ")"));
}

absl::Status ReadShape(const JsonFields& f, const ArchitectureTraits& arch, ModelConfig& c) {
  ASSIGN_OR_RETURN(c.hidden_size, f.PositiveInt("hidden_size"));
  ASSIGN_OR_RETURN(c.intermediate_size, f.PositiveInt("intermediate_size"));
  ASSIGN_OR_RETURN(c.num_layers, f.PositiveInt("num_hidden_layers"));
  ASSIGN_OR_RETURN(c.num_heads, f.PositiveInt("num_attention_heads"));
  ASSIGN_OR_RETURN(c.num_kv_heads, f.PositiveIntOr("num_key_value_heads", c.num_heads));
  ASSIGN_OR_RETURN(c.vocab_size, f.PositiveInt("vocab_size"));
  ASSIGN_OR_RETURN(
      c.max_position_embeddings,
      f.PositiveIntOr("max_position_embeddings", arch.default_max_position_embeddings));
  if (c.num_heads % c.num_kv_heads != 0) {
    return f.Error("num_key_value_heads",
                   absl::StrCat("(", c.num_kv_heads, ") does not divide num_attention_heads (",
                                c.num_heads, ")"));
  }
  // Qwen3Config defaults head_dim to 128; the other classes derive it from the hidden size.
  if (arch.architecture == Architecture::kQwen3) {
    ASSIGN_OR_RETURN(c.head_dim, f.PositiveIntOr("head_dim", 128));
  } else if (!f.HasValue("head_dim") && c.hidden_size % c.num_heads != 0) {
    return f.Error("hidden_size",
                   absl::StrCat("(", c.hidden_size, ") is not a multiple of num_attention_heads (",
                                c.num_heads, ") and head_dim is not given"));
  } else {
    ASSIGN_OR_RETURN(c.head_dim, f.PositiveIntOr("head_dim", c.hidden_size / c.num_heads));
  }
  return absl::OkStatus();
}

absl::StatusOr<RopeScaling> ReadRopeScaling(const JsonFields& f) {
  RopeScaling r;
  std::string type;
  if (f.HasValue("rope_type")) {
    ASSIGN_OR_RETURN(type, f.String("rope_type"));
  } else {
    ASSIGN_OR_RETURN(type, f.String("type"));  // the legacy spelling
  }
  if (type == "default") return r;
  if (type == "linear") {
    r.type = RopeScalingType::kLinear;
    ASSIGN_OR_RETURN(r.factor, f.PositiveDouble("factor"));
    return r;
  }
  if (type == "llama3") {
    r.type = RopeScalingType::kLlama3;
    ASSIGN_OR_RETURN(r.factor, f.PositiveDouble("factor"));
    ASSIGN_OR_RETURN(r.low_freq_factor, f.PositiveDouble("low_freq_factor"));
    ASSIGN_OR_RETURN(r.high_freq_factor, f.PositiveDouble("high_freq_factor"));
    ASSIGN_OR_RETURN(r.original_max_position_embeddings,
                     f.PositiveInt("original_max_position_embeddings"));
    if (r.high_freq_factor <= r.low_freq_factor) {
      return f.Error("high_freq_factor", "must be greater than low_freq_factor");
    }
    return r;
  }
  return f.Error("rope_type", absl::StrCat("\"", type,
                                           "\" is not supported (supported: default, linear, "
                                           "llama3)"));
}

// rope_theta and rope_scaling; transformers 5 folds both into one "rope_parameters" object.
absl::Status ReadRope(const JsonFields& f, ModelConfig& c) {
  if (f.HasValue("rope_parameters")) {
    ASSIGN_OR_RETURN(JsonFields p, f.Object("rope_parameters"));
    ASSIGN_OR_RETURN(c.rope_theta, p.PositiveDoubleOr("rope_theta", 10000));
    ASSIGN_OR_RETURN(c.rope_scaling, ReadRopeScaling(p));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(c.rope_theta, f.PositiveDoubleOr("rope_theta", 10000));
  if (f.HasValue("rope_scaling")) {
    ASSIGN_OR_RETURN(JsonFields s, f.Object("rope_scaling"));
    ASSIGN_OR_RETURN(c.rope_scaling, ReadRopeScaling(s));
  }
  return absl::OkStatus();
}

absl::Status ReadAttentionVariant(const JsonFields& f, ModelConfig& c) {
  const Architecture arch = c.architecture;
  if (arch == Architecture::kQwen2) {
    c.attention_bias = true;
  } else if (arch == Architecture::kLlama || arch == Architecture::kQwen3) {
    ASSIGN_OR_RETURN(c.attention_bias, f.BoolOr("attention_bias", false));
    c.o_proj_bias = c.attention_bias;
  }
  c.qk_norm = arch == Architecture::kQwen3;
  ASSIGN_OR_RETURN(bool mlp_bias, f.BoolOr("mlp_bias", false));
  if (mlp_bias) return f.Unsupported("mlp_bias", "true");
  ASSIGN_OR_RETURN(std::string act, f.StringOr("hidden_act", "silu"));
  if (act != "silu") return f.Unsupported("hidden_act", absl::StrCat("\"", act, "\""));
  return absl::OkStatus();
}

// Mistral: "sliding_window" (class default 4096; null = none). Qwen2/3: "use_sliding_window",
// applied to layers at or above "max_window_layers"; only all-or-none is supported.
absl::Status ReadSlidingWindow(const JsonFields& f, ModelConfig& c) {
  c.sliding_window.reset();
  if (c.architecture == Architecture::kMistral) {
    if (!f.Has("sliding_window")) {
      c.sliding_window = 4096;
    } else if (f.HasValue("sliding_window")) {
      ASSIGN_OR_RETURN(c.sliding_window, f.PositiveInt("sliding_window"));
    }
    return absl::OkStatus();
  }
  if (c.architecture == Architecture::kLlama) return absl::OkStatus();
  ASSIGN_OR_RETURN(bool use, f.BoolOr("use_sliding_window", false));
  if (!use) return absl::OkStatus();
  ASSIGN_OR_RETURN(int64_t first_layer, f.NonNegativeIntOr("max_window_layers", 28));
  if (first_layer >= c.num_layers) return absl::OkStatus();
  if (first_layer != 0) {
    return f.Unsupported("max_window_layers",
                         absl::StrCat(first_layer,
                                      " with use_sliding_window (windows on only some "
                                      "layers)"));
  }
  ASSIGN_OR_RETURN(c.sliding_window, f.PositiveIntOr("sliding_window", 4096));
  return absl::OkStatus();
}

absl::StatusOr<DType> ReadDType(const JsonFields& f) {
  const char* field = f.HasValue("dtype") ? "dtype" : "torch_dtype";  // transformers 5: "dtype"
  ASSIGN_OR_RETURN(std::string name, f.StringOr(field, "float32"));
  if (name == "float32") return DType::kF32;
  if (name == "float16") return DType::kF16;
  if (name == "bfloat16") return DType::kBF16;
  return f.Error(field, absl::StrCat("\"", name,
                                     "\" is not supported (supported: float32, float16, "
                                     "bfloat16)"));
}

// bos_token_id and eos_token_id (an integer or a list) when present and not null.
absl::Status ReadSpecialTokens(const JsonFields& f, ModelConfig& c) {
  if (f.HasValue("bos_token_id")) {
    ASSIGN_OR_RETURN(int64_t bos, f.TokenId("bos_token_id"));
    c.bos_token_id = static_cast<int32_t>(bos);
  }
  if (f.HasValue("eos_token_id")) {
    ASSIGN_OR_RETURN(std::vector<int64_t> eos, f.TokenIdOrList("eos_token_id"));
    c.eos_token_ids.assign(eos.begin(), eos.end());
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseConfigJson(const JsonFields& f) {
  ModelConfig c;
  ASSIGN_OR_RETURN(const ArchitectureTraits* arch, ReadArchitecture(f));
  c.architecture = arch->architecture;
  c.architecture_name = arch->class_name;
  RETURN_IF_ERROR(ReadShape(f, *arch, c));
  ASSIGN_OR_RETURN(c.rms_norm_eps, f.PositiveDoubleOr("rms_norm_eps", 1e-6));
  RETURN_IF_ERROR(ReadRope(f, c));
  ASSIGN_OR_RETURN(c.tie_word_embeddings, f.BoolOr("tie_word_embeddings", false));
  RETURN_IF_ERROR(ReadAttentionVariant(f, c));
  RETURN_IF_ERROR(ReadSlidingWindow(f, c));
  if (arch->default_special_tokens) {
    if (!f.Has("bos_token_id")) c.bos_token_id = 1;
    if (!f.Has("eos_token_id")) c.eos_token_ids = {2};
  }
  RETURN_IF_ERROR(ReadSpecialTokens(f, c));
  ASSIGN_OR_RETURN(c.dtype, ReadDType(f));
  return c;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return text.str();
}

}  // namespace

std::string_view ArchitectureClassName(Architecture architecture) {
  return Traits(architecture).class_name;
}

std::string_view ArchitectureModelType(Architecture architecture) {
  return Traits(architecture).model_type;
}

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view config_json,
                                             std::string_view generation_config_json,
                                             std::string_view source_name) {
  const std::string source(source_name);
  ASSIGN_OR_RETURN(JsonFields config,
                   JsonFields::Parse(config_json, absl::StrCat(source, "/config.json")));
  ASSIGN_OR_RETURN(ModelConfig c, ParseConfigJson(config));
  if (!generation_config_json.empty()) {
    ASSIGN_OR_RETURN(
        JsonFields generation,
        JsonFields::Parse(generation_config_json, absl::StrCat(source, "/generation_config.json")));
    RETURN_IF_ERROR(ReadSpecialTokens(generation, c));
  }
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  ASSIGN_OR_RETURN(std::string config, ReadFile(absl::StrCat(model_dir, "/config.json")));
  std::string generation;
  const std::string generation_path = absl::StrCat(model_dir, "/generation_config.json");
  if (std::ifstream(generation_path).good()) {
    ASSIGN_OR_RETURN(generation, ReadFile(generation_path));
  }
  return ParseModelConfig(config, generation, model_dir);
}

}  // namespace tspserve
