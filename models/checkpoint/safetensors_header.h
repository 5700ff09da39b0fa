// The JSON header of a safetensors file, parsed and validated. File layout: an 8-byte
// little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, ...,
// "__metadata__": {string: string}}, then the data section the offsets point into.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/common/dtype.h"

namespace tspserve {

// The reference implementation refuses larger headers; so do we (also bounds parse memory).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // row-major; [] is a scalar
  uint64_t data_begin = 0;     // [data_begin, data_end): bytes within the data section
  uint64_t data_end = 0;

  int64_t num_elements() const;
  uint64_t num_bytes() const { return data_end - data_begin; }
};

// "[4096, 128]".
std::string ShapeToString(const std::vector<int64_t>& shape);

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;              // in data order (ascending data_begin)
  std::map<std::string, std::string> metadata;  // "__metadata__"; empty when absent
};

// Parses `json` and checks it against a data section of `data_size` bytes: known dtypes,
// offsets that match dtype * shape, and ranges that tile the data section exactly (no
// overlap, no gap, nothing past its end). Errors name `file` and the tensor.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view json, uint64_t data_size,
                                                         const std::string& file);

}  // namespace tspserve
