// The gated-MLP activation on the GPU (Backend::SiluMul).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// out[r, i] = silu(gate_up[r, i]) * gate_up[r, cols + i], silu(g) = g / (1 + exp(-g)), in fp32.
// gate_up bf16 [rows, 2 * cols]; out bf16 [rows, cols]; strides in elements; out must not overlap
// gate_up.
struct SiluMulArgs {
  const __nv_bfloat16* gate_up = nullptr;
  int64_t gate_up_row_stride = 0;
  __nv_bfloat16* out = nullptr;
  int64_t out_row_stride = 0;
  int64_t rows = 0;
  int64_t cols = 0;
};
cudaError_t LaunchSiluMul(const SiluMulArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
