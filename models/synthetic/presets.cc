#include "models/synthetic/presets.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tspserve {
namespace {

struct Shape {
  int64_t hidden, intermediate, layers, heads, kv_heads, head_dim;
};

ModelConfig Base(Architecture arch, Shape s, int64_t max_positions, DType dtype) {
  ModelConfig c;
  c.architecture = arch;
  c.architecture_name = std::string(ArchitectureClassName(arch));
  c.hidden_size = s.hidden;
  c.intermediate_size = s.intermediate;
  c.num_layers = s.layers;
  c.num_heads = s.heads;
  c.num_kv_heads = s.kv_heads;
  c.head_dim = s.head_dim;
  c.max_position_embeddings = max_positions;
  c.rms_norm_eps = 1e-5;
  c.dtype = dtype;
  return c;
}

ModelConfig Llama3(Shape s, int64_t max_positions, DType dtype, int64_t vocab) {
  ModelConfig c = Base(Architecture::kLlama, s, max_positions, dtype);
  c.rope_theta = 500000;
  c.rope_scaling = {RopeScalingType::kLlama3, 8.0, 1.0, 4.0, 8192};
  c.vocab_size = vocab;
  return c;
}

// Qwen2/Qwen3 defaults: tied embeddings, rope theta 1e6, eps 1e-6.
ModelConfig Qwen(Architecture arch, Shape s, int64_t max_positions, DType dtype) {
  ModelConfig c = Base(arch, s, max_positions, dtype);
  c.tie_word_embeddings = true;
  c.rope_theta = 1000000;
  c.rms_norm_eps = 1e-6;
  c.attention_bias = arch == Architecture::kQwen2;
  c.qk_norm = arch == Architecture::kQwen3;
  return c;
}

std::vector<ModelPreset> MakePresets() {
  std::vector<ModelPreset> presets;
  {  // The built-in default: Llama GQA (12 query heads over 4 K/V heads), byte-level BPE.
    ModelConfig c = Base(Architecture::kLlama, {192, 384, 2, 12, 4, 16}, 4096, DType::kF32);
    presets.push_back({"tiny", "Llama, GQA 12/4, 2 layers, fp32", c, TokenizerStyle::kByteLevel, 512});
  }
  {  // Llama 3 style: llama3 rope scaling, 2 K/V heads (fewer than 3 or 4 ranks).
    ModelConfig c = Base(Architecture::kLlama, {384, 1152, 4, 12, 2, 32}, 8192, DType::kF32);
    c.rope_theta = 500000;
    c.rope_scaling = {RopeScalingType::kLlama3, 8.0, 1.0, 4.0, 256};
    presets.push_back({"small", "Llama 3 style, GQA 12/2, llama3 rope, 4 layers, fp32", c,
                       TokenizerStyle::kByteLevel, 1024});
  }
  {  // Llama 2 style: MHA, linear rope scaling, Metaspace tokenizer with byte fallback.
    ModelConfig c = Base(Architecture::kLlama, {192, 576, 2, 12, 12, 16}, 4096, DType::kF32);
    c.rope_scaling = {RopeScalingType::kLinear, 2.0, 1.0, 4.0, 8192};
    presets.push_back({"llama2-small", "Llama 2 style, MHA 12/12, linear rope x2, Metaspace BPE", c,
                       TokenizerStyle::kMetaspace, 768});
  }
  {  // Mistral: GQA and a sliding window short enough for tests to cross it.
    ModelConfig c = Base(Architecture::kMistral, {192, 576, 2, 12, 4, 16}, 4096, DType::kF32);
    c.sliding_window = 64;
    presets.push_back({"mistral-small", "Mistral, GQA 12/4, sliding window 64, Metaspace BPE", c,
                       TokenizerStyle::kMetaspace, 768});
  }
  presets.push_back({"qwen2-small", "Qwen2, GQA 12/2, q/k/v bias, tied embeddings",
                     Qwen(Architecture::kQwen2, {192, 576, 2, 12, 2, 16}, 4096, DType::kF32),
                     TokenizerStyle::kByteLevel, 768});
  // Qwen3: q/k RMSNorm, head_dim 32 != hidden / heads.
  presets.push_back({"qwen3-small", "Qwen3, GQA 12/4, q/k norm, head_dim 32, tied",
                     Qwen(Architecture::kQwen3, {192, 576, 2, 12, 4, 32}, 4096, DType::kF32),
                     TokenizerStyle::kByteLevel, 768});
  presets.push_back({"llama3-8b", "Llama-3-8B shape, bf16 (16 GB)",
                     Llama3({4096, 14336, 32, 32, 8, 128}, 131072, DType::kBF16, 128256),
                     TokenizerStyle::kByteLevel, 4096});
  presets.push_back({"llama3-70b", "Llama-3-70B shape, bf16 (141 GB)",
                     Llama3({8192, 28672, 80, 64, 8, 128}, 131072, DType::kBF16, 128256),
                     TokenizerStyle::kByteLevel, 4096});
  {
    ModelConfig c = Qwen(Architecture::kQwen2, {2048, 11008, 36, 16, 2, 128}, 32768, DType::kBF16);
    c.vocab_size = 151936;
    presets.push_back({"qwen2.5-3b", "Qwen2.5-3B shape (GQA 16/2), bf16", c,
                       TokenizerStyle::kByteLevel, 4096});
  }
  return presets;
}

}  // namespace

const std::vector<ModelPreset>& ModelPresets() {
  static const std::vector<ModelPreset>* presets = new std::vector<ModelPreset>(MakePresets());
  return *presets;
}

absl::StatusOr<ModelPreset> FindModelPreset(std::string_view name) {
  std::vector<std::string> names;
  for (const ModelPreset& p : ModelPresets()) {
    if (p.name == name) return p;
    names.push_back(p.name);
  }
  return absl::NotFoundError(absl::StrCat("unknown model preset \"", std::string(name),
                                          "\"; presets: ", absl::StrJoin(names, ", ")));
}

}  // namespace tspserve
