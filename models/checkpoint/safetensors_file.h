// One safetensors file, memory-mapped: the header is parsed and validated at Open, tensor data
// is touched only when a caller reads it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "models/checkpoint/mapped_file.h"
#include "models/checkpoint/safetensors_header.h"

namespace tspserve {

class SafetensorsFile {
 public:
  // Maps `path` and validates its header (see ParseSafetensorsHeader). Errors name the file
  // and, where one is at fault, the tensor.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }  // data order
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }

  // nullptr when the file holds no tensor `name`.
  const TensorInfo* Find(std::string_view name) const;
  // The tensor's num_bytes() bytes. `tensor` must come from this file. The pointer may be
  // unaligned for the dtype: read through memcpy.
  const uint8_t* Data(const TensorInfo& tensor) const {
    return file_->data() + data_offset_ + tensor.data_begin;
  }

 private:
  SafetensorsFile(std::unique_ptr<MappedFile> file, SafetensorsHeader header, uint64_t data_offset);

  std::unique_ptr<MappedFile> file_;
  SafetensorsHeader header_;
  uint64_t data_offset_;  // 8 + header length: where the data section begins
  std::map<std::string, size_t, std::less<>> by_name_;  // name -> index into header_.tensors
};

}  // namespace tspserve
