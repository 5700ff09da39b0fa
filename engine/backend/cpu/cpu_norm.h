// RMS normalisation on the CPU, computed as Hugging Face's LlamaRMSNorm does in fp32:
// variance = mean(x²); y = (x * rsqrt(variance + eps)) * weight.
#pragma once

#include "engine/tensor/tensor.h"

namespace tspserve::cpu {

// out = RmsNorm(x) * weight over each group of D = weight.numel() consecutive columns: row by row
// for x [M, D], head by head for x [M, n*D] (Qwen3's q/k norm). x, out F32 with any row stride; out
// may alias x; weight [D].
void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out);

// residual += x, then out = RmsNorm(residual) * weight. residual, x, out [M, D] F32; out may alias
// x but not residual.
void AddRmsNorm(const Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                const Tensor& out);

}  // namespace tspserve::cpu
