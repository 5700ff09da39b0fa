// Element types of tensors and checkpoint data, and the scalar conversions between them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tspserve {

enum class DType : uint8_t { kF32, kF16, kBF16, kI32, kI64, kU8 };

size_t DTypeSize(DType dtype);
std::string_view DTypeName(DType dtype);            // "F32", "BF16", ... (safetensors spelling)
absl::StatusOr<DType> ParseDType(std::string_view name);

// bf16 is the top half of an IEEE float; rounding to nearest even, NaN kept quiet.
inline float Bf16ToFloat(uint16_t bits) {
  uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}
inline uint16_t FloatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float F16ToFloat(uint16_t bits);
uint16_t FloatToF16(float f);

// Converts `count` elements of `src` (of type `src_dtype`, F32/F16/BF16) to float.
void ConvertToFloat(DType src_dtype, const void* src, size_t count, float* dst);
// Converts `count` floats to `dst_dtype` (F32/F16/BF16).
void ConvertFromFloat(const float* src, size_t count, DType dst_dtype, void* dst);

}  // namespace tspserve
