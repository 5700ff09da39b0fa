// Element-wise sums of host arrays over ranks: the arithmetic of the local reductions.
#pragma once

#include <cstdint>
#include <span>

#include "engine/common/dtype.h"

namespace tspserve {

// True for the dtypes a reduction accepts: F32, F16, BF16, I32, I64.
bool IsSummable(DType dtype);

// dst[i] = sources[0][i] + sources[1][i] + ... for i in [0, count), added in source order. F32, F16
// and BF16 are accumulated in float and rounded once; I32 and I64 wrap around. `dst` may be one of
// the sources (same element offsets) but must not otherwise overlap them. sources is non-empty;
// CHECK-fails for a dtype that IsSummable rejects.
void SumArrays(DType dtype, std::span<const void* const> sources, int64_t count, void* dst);

}  // namespace tspserve
