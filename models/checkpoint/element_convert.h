// Element conversion between checkpoint dtypes, tolerant of unaligned (memory-mapped) sources.
#pragma once

#include <cstdint>

#include "engine/common/dtype.h"

namespace tspserve {

// F32, F16 or BF16.
bool IsFloatDType(DType dtype);

// Converts `count` elements of `src_dtype` at `src` (any alignment) into `dst_dtype` at `dst`
// (aligned for dst_dtype). Equal dtypes copy bytes; otherwise both must be float dtypes.
void ConvertElements(DType src_dtype, const void* src, int64_t count, DType dst_dtype, void* dst);

}  // namespace tspserve
