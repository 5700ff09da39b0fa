// Writes one safetensors file without holding it in memory: declare every tensor, Open (which
// writes the header), then stream each tensor's bytes in declaration order, in chunks of any
// size, and Close. The file appears under its final name only once Close succeeds.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/common/dtype.h"
#include "models/checkpoint/safetensors_header.h"

namespace tspserve {

class SafetensorsWriter {
 public:
  SafetensorsWriter() = default;
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;
  ~SafetensorsWriter();  // removes the partial file unless Close succeeded

  // Declares the next tensor; its data follows the previous tensor's. Only before Open.
  absl::Status AddTensor(std::string name, DType dtype, std::vector<int64_t> shape);
  // Creates `path` + ".partial" and writes the header, "__metadata__" holding `metadata`
  // (transformers expects {"format": "pt"}).
  absl::Status Open(const std::string& path, const std::map<std::string, std::string>& metadata);
  // Appends `bytes` bytes of tensor `name`, which must be the first declared tensor whose data
  // is not yet complete. A chunk never spills into the next tensor.
  absl::Status WriteData(std::string_view name, const void* data, size_t bytes);
  // True once every declared tensor's data has been written.
  bool complete() const;
  // Requires complete(); flushes, closes and renames the file to `path`.
  absl::Status Close();

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  uint64_t data_bytes() const { return data_bytes_; }  // sum of the tensors' bytes

 private:
  std::string HeaderJson(const std::map<std::string, std::string>& metadata) const;
  void SkipCompleteTensors();
  absl::Status Fail(std::string_view what);  // closes and removes the partial file

  std::vector<TensorInfo> tensors_;  // data_offsets assigned in declaration order
  std::set<std::string, std::less<>> names_;
  uint64_t data_bytes_ = 0;
  std::string path_;
  std::string partial_path_;
  std::FILE* file_ = nullptr;
  size_t current_ = 0;         // index of the tensor being written
  uint64_t current_done_ = 0;  // bytes of it written so far
};

}  // namespace tspserve
