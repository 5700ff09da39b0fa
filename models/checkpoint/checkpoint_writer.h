// Writes a model directory's weights as transformers' save_pretrained does: tensors fill
// shards of at most `max_shard_bytes` in declaration order (a larger tensor gets a shard of
// its own); one shard is "model.safetensors", several are
// "model-00001-of-0000N.safetensors" plus "model.safetensors.index.json"
// ({"metadata": {"total_size": bytes}, "weight_map": {tensor: shard}}, keys sorted).
// Data is streamed as with SafetensorsWriter, so no tensor or shard is held in memory.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/common/dtype.h"
#include "models/checkpoint/safetensors_writer.h"

namespace tspserve {

class CheckpointWriter {
 public:
  CheckpointWriter(std::string dir, uint64_t max_shard_bytes);

  // Declares the next tensor. Only before Begin.
  absl::Status AddTensor(std::string name, DType dtype, std::vector<int64_t> shape);
  // Plans the shards and opens the first. `metadata` goes into every shard's header.
  absl::Status Begin(std::map<std::string, std::string> metadata = {{"format", "pt"}});
  // Appends bytes of tensor `name`: tensors in declaration order, chunks of any size.
  absl::Status WriteData(std::string_view name, const void* data, size_t bytes);
  // Closes the last shard and, when there are several, writes the index.
  absl::Status Finish();

  // Shard file names in order; known after Begin.
  std::vector<std::string> shard_files() const;

 private:
  struct Shard {
    std::string file_name;
    std::vector<size_t> tensors;  // indices into declared_.tensors()
  };

  void PlanShards();
  absl::Status OpenShard(size_t shard);
  absl::Status WriteIndex() const;

  const std::string dir_;
  const uint64_t max_shard_bytes_;
  SafetensorsWriter declared_;  // never opened: validates and records the declarations
  std::vector<Shard> shards_;
  std::map<std::string, std::string> metadata_;
  size_t current_ = 0;  // shard being written
  std::unique_ptr<SafetensorsWriter> writer_;
};

}  // namespace tspserve
