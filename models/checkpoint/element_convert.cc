#include "models/checkpoint/element_convert.h"

#include <algorithm>
#include <cstring>

#include "engine/common/check.h"

namespace tspserve {
namespace {

constexpr int64_t kChunk = 1024;  // elements converted per step through stack buffers

}  // namespace

bool IsFloatDType(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

void ConvertElements(DType src_dtype, const void* src, int64_t count, DType dst_dtype, void* dst) {
  const size_t src_size = DTypeSize(src_dtype);
  const size_t dst_size = DTypeSize(dst_dtype);
  if (src_dtype == dst_dtype) {
    std::memcpy(dst, src, static_cast<size_t>(count) * src_size);
    return;
  }
  CHECK(IsFloatDType(src_dtype) && IsFloatDType(dst_dtype))
      << "cannot convert " << DTypeName(src_dtype) << " to " << DTypeName(dst_dtype);
  alignas(8) uint8_t raw[kChunk * sizeof(float)];
  float floats[kChunk];
  const auto* in = static_cast<const uint8_t*>(src);
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t done = 0; done < count; done += kChunk) {
    const size_t n = static_cast<size_t>(std::min(kChunk, count - done));
    std::memcpy(raw, in + done * src_size, n * src_size);
    ConvertToFloat(src_dtype, raw, n, floats);
    ConvertFromFloat(floats, n, dst_dtype, out + done * dst_size);
  }
}

}  // namespace tspserve
