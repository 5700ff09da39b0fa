// RMS normalisation on the GPU (Backend::RmsNorm and the fused Backend::AddRmsNorm), computed as
// Hugging Face's LlamaRMSNorm: variance = mean(x²) in fp32; y = x * rsqrt(variance + eps) * weight,
// rounded to bf16 once. Matrices are bf16, row-major with unit column stride; strides in elements.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// out = RmsNorm(x) * weight over each group of `group` consecutive columns (group == cols: row by
// row; group == head_dim: head by head). x, out [rows, cols] with cols % group == 0; out may be x
// (in place) but must not overlap it otherwise; weight [group].
struct RmsNormArgs {
  const __nv_bfloat16* x = nullptr;
  int64_t x_row_stride = 0;
  const __nv_bfloat16* weight = nullptr;
  __nv_bfloat16* out = nullptr;
  int64_t out_row_stride = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t group = 0;
  float eps = 1e-6f;
};
cudaError_t LaunchRmsNorm(const RmsNormArgs& args, cudaStream_t stream);

// residual += x (rounded to bf16 and stored), then out = RmsNorm(residual) * weight row by row.
// residual, x, out [rows, cols]; out may be x but not residual; weight [cols].
struct AddRmsNormArgs {
  __nv_bfloat16* residual = nullptr;
  int64_t residual_row_stride = 0;
  const __nv_bfloat16* x = nullptr;
  int64_t x_row_stride = 0;
  const __nv_bfloat16* weight = nullptr;
  __nv_bfloat16* out = nullptr;
  int64_t out_row_stride = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  float eps = 1e-6f;
};
cudaError_t LaunchAddRmsNorm(const AddRmsNormArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
