#include "engine/comm/reduce_sum.h"

#include <algorithm>
#include <array>

#include "engine/common/check.h"

namespace tspserve {
namespace {

// Elements per pass: every source of a chunk is read before dst is written, so dst may alias one.
constexpr int64_t kChunk = 512;

const void* ByteOffset(const void* p, int64_t bytes) { return static_cast<const char*>(p) + bytes; }
void* ByteOffset(void* p, int64_t bytes) { return static_cast<char*>(p) + bytes; }

void SumFloating(DType dtype, std::span<const void* const> sources, int64_t count, void* dst) {
  const int64_t elem = static_cast<int64_t>(DTypeSize(dtype));
  std::array<float, kChunk> acc;
  std::array<float, kChunk> term;
  for (int64_t begin = 0; begin < count; begin += kChunk) {
    const int64_t n = std::min(kChunk, count - begin);
    const int64_t offset = begin * elem;
    ConvertToFloat(dtype, ByteOffset(sources[0], offset), n, acc.data());
    for (size_t s = 1; s < sources.size(); ++s) {
      ConvertToFloat(dtype, ByteOffset(sources[s], offset), n, term.data());
      for (int64_t i = 0; i < n; ++i) acc[i] += term[i];
    }
    ConvertFromFloat(acc.data(), n, dtype, ByteOffset(dst, offset));
  }
}

// U is the unsigned type of the element width, so overflow wraps instead of being undefined.
template <typename U>
void SumIntegers(std::span<const void* const> sources, int64_t count, void* dst) {
  std::array<U, kChunk> acc;
  U* out = static_cast<U*>(dst);
  for (int64_t begin = 0; begin < count; begin += kChunk) {
    const int64_t n = std::min(kChunk, count - begin);
    std::copy_n(static_cast<const U*>(sources[0]) + begin, n, acc.begin());
    for (size_t s = 1; s < sources.size(); ++s) {
      const U* term = static_cast<const U*>(sources[s]) + begin;
      for (int64_t i = 0; i < n; ++i) acc[i] += term[i];
    }
    std::copy_n(acc.begin(), n, out + begin);
  }
}

}  // namespace

bool IsSummable(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kI32:
    case DType::kI64:
      return true;
    case DType::kU8:
      return false;
  }
  return false;
}

void SumArrays(DType dtype, std::span<const void* const> sources, int64_t count, void* dst) {
  CHECK(!sources.empty()) << "SumArrays of no sources";
  CHECK(IsSummable(dtype)) << "sum of dtype " << DTypeName(dtype) << " is not supported";
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      SumFloating(dtype, sources, count, dst);
      return;
    case DType::kI32:
      SumIntegers<uint32_t>(sources, count, dst);
      return;
    case DType::kI64:
      SumIntegers<uint64_t>(sources, count, dst);
      return;
    case DType::kU8:
      break;
  }
  LOG(FATAL) << "unreachable dtype " << DTypeName(dtype);
}

}  // namespace tspserve
