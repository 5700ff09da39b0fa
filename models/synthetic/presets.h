// Shape presets for synthetic checkpoints: small ones for tests (head counts divisible by 3 and
// by 4, GQA with fewer K/V heads than ranks, MHA, q/k/v bias, q/k norm, tied embeddings, each
// rope scaling) and real model shapes for benchmarks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "models/config/model_config.h"
#include "models/tokenizer/bpe_trainer.h"

namespace tspserve {

struct ModelPreset {
  std::string name;
  std::string description;
  ModelConfig config;          // vocab_size 0: the trained tokenizer's size
  TokenizerStyle tokenizer_style;
  int32_t tokenizer_vocab_size;  // BPE vocabulary to train, specials included
};

const std::vector<ModelPreset>& ModelPresets();
absl::StatusOr<ModelPreset> FindModelPreset(std::string_view name);  // error lists the presets

}  // namespace tspserve
