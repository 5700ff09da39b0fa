// Rotary position embedding on the CPU, in Hugging Face's rotate-half convention.
#pragma once

#include <cstdint>

#include "engine/tensor/tensor.h"

namespace tspserve::cpu {

// Rotates every head of every row of x in place. For head elements i < D/2 with c = cos_sin[p, i]
// and s = cos_sin[p, D/2 + i], where p = positions[t]:
//   x[i] <- x[i] * c - x[i + D/2] * s;   x[i + D/2] <- x[i + D/2] * c + x[i] * s.
// x [T, n*D] F32 (rows may be strided); positions [T] I32 in [0, max_positions);
// cos_sin [max_positions, D] F32.
void Rope(const Tensor& x, int32_t head_dim, const Tensor& positions, const Tensor& cos_sin);

}  // namespace tspserve::cpu
