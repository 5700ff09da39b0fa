// A plain tiled bf16 matrix product for the shapes cuBLASLt turns down (odd strides, misaligned
// column views, K == 0). Correct for every shape; not tuned: the CUDA backend uses it only when
// cuBLASLt offers no algorithm.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// out = x · wᵀ, or out += x · wᵀ when `accumulate`; fp32 sums, one rounding to out's type (bf16, or
// fp32 when out_f32: logits keep fp32). x [m, k]; w [n, k]; out [m, n]; row-major, row strides in
// elements. out must not overlap x or w.
struct MatMulArgs {
  const __nv_bfloat16* x = nullptr;
  int64_t x_row_stride = 0;
  const __nv_bfloat16* w = nullptr;
  int64_t w_row_stride = 0;
  void* out = nullptr;  // __nv_bfloat16, or float when out_f32
  bool out_f32 = false;
  int64_t out_row_stride = 0;
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  bool accumulate = false;
};
cudaError_t LaunchMatMulFallback(const MatMulArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
