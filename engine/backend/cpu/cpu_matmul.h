// Dense matrix multiply on the CPU (OpenBLAS sgemm).
#pragma once

#include "engine/tensor/tensor.h"

namespace tspserve::cpu {

// out = x · wᵀ, or out += x · wᵀ when `accumulate`. x [M, K]; w [N, K]; out [M, N]; all F32 with
// any row stride. out must not overlap x or w.
void MatMul(const Tensor& x, const Tensor& w, const Tensor& out, bool accumulate);

}  // namespace tspserve::cpu
