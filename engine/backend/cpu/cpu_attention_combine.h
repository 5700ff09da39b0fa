// The split-KV merge on the CPU: partial attentions over disjoint key sets, each with its
// log-sum-exp, combined into the exact softmax result.
#pragma once

#include "engine/tensor/tensor.h"

namespace tspserve::cpu {

// partials [S, T, n*D] F32 contiguous; lse [S, T, n] F32 contiguous; out [T, n*D] any row stride.
void CombineAttention(const Tensor& partials, const Tensor& lse, const Tensor& out);

}  // namespace tspserve::cpu
