// Synthetic checkpoints: a complete Hugging Face model directory (config.json,
// generation_config.json, safetensors, sharded when large, and a tokenizer.json with a trained BPE
// vocabulary) with deterministic random weights: the same preset and seed give the same bytes on
// every machine. transformers loads these directories, which is how golden logits are made.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace tspserve {

struct MakeModelOptions {
  std::string preset = "tiny";
  uint64_t seed = 0;
  std::string out_dir;
  int64_t max_shard_bytes = 2ll << 30;  // larger checkpoints are split with an index file
};

absl::Status MakeModel(const MakeModelOptions& options);

// The built-in default model (preset "tiny", seed 0), generated on first use into
// $TSPSERVE_CACHE_DIR, else $XDG_CACHE_HOME/tspserve, else ~/.cache/tspserve. Returns its folder.
absl::StatusOr<std::string> BuiltinModelDir();

}  // namespace tspserve
