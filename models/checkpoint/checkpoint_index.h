// model.safetensors.index.json: {"metadata": {"total_size": N, ...},
// "weight_map": {tensor name: shard file name}}.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tspserve {

struct CheckpointIndex {
  std::map<std::string, std::string> weight_map;  // tensor -> shard file (a plain file name)
  std::optional<int64_t> total_size;              // metadata.total_size: bytes of all tensors
};

// Parses the index text; `path` names it in errors. Shard names must be plain file names
// within the model directory.
absl::StatusOr<CheckpointIndex> ParseCheckpointIndex(std::string_view text,
                                                     const std::string& path);

// The index JSON as Hugging Face writes it: two-space indent, keys sorted.
std::string CheckpointIndexToJson(const CheckpointIndex& index);

}  // namespace tspserve
