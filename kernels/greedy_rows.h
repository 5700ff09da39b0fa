// Greedy picks on the GPU (Backend::GreedyRows): per row of fp32 logits, the largest value, its
// column (the lowest on ties) and the row's log-sum-exp, so a greedy step returns three numbers per
// sequence instead of the whole vocabulary.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// logits fp32 [rows, cols] (row stride in elements); only columns [0, valid_cols) count.
// out fp32 [rows, 3]: max, id_offset + argmax (exact as a float below 2^24), log-sum-exp; a row
// with no valid column gets (-inf, -1, -inf).
struct GreedyRowsArgs {
  const float* logits = nullptr;
  int64_t row_stride = 0;
  int64_t rows = 0;
  int64_t valid_cols = 0;
  int64_t id_offset = 0;
  float* out = nullptr;
};
cudaError_t LaunchGreedyRows(const GreedyRowsArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
