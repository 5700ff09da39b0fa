// Element-wise and row-moving ops on the GPU: Backend::Add, AddBias, Copy and GatherRows.
// Matrices are row-major with unit column stride and any row stride; strides of bf16 matrices are
// in elements, those of the dtype-agnostic copies in bytes.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// a += b (fp32 sum, rounded once). a, b bf16 [rows, cols].
struct AddArgs {
  __nv_bfloat16* a = nullptr;
  int64_t a_row_stride = 0;
  const __nv_bfloat16* b = nullptr;
  int64_t b_row_stride = 0;
  int64_t rows = 0;
  int64_t cols = 0;
};
cudaError_t LaunchAdd(const AddArgs& args, cudaStream_t stream);

// x[r, :] += bias. x bf16 [rows, cols]; bias bf16 [cols].
struct AddBiasArgs {
  __nv_bfloat16* x = nullptr;
  int64_t x_row_stride = 0;
  const __nv_bfloat16* bias = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
};
cudaError_t LaunchAddBias(const AddBiasArgs& args, cudaStream_t stream);

// dst = src for `rows` rows of `row_bytes` bytes (any dtype). dst and src must not overlap.
struct CopyRowsArgs {
  void* dst = nullptr;
  int64_t dst_pitch = 0;  // bytes
  const void* src = nullptr;
  int64_t src_pitch = 0;  // bytes
  int64_t rows = 0;
  int64_t row_bytes = 0;
};
cudaError_t LaunchCopyRows(const CopyRowsArgs& args, cudaStream_t stream);

// dst[i] = src[index[i]] for i < rows (any dtype); an index outside [0, src_rows) gives a zero row.
struct GatherRowsArgs {
  void* dst = nullptr;
  int64_t dst_pitch = 0;  // bytes
  const void* src = nullptr;
  int64_t src_pitch = 0;  // bytes
  int64_t src_rows = 0;
  const int32_t* index = nullptr;  // [rows], device
  int64_t rows = 0;
  int64_t row_bytes = 0;
};
cudaError_t LaunchGatherRows(const GatherRowsArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
