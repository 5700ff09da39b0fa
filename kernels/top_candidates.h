// The k most likely columns of each row of fp32 logits on the GPU (Backend::TopCandidates), so
// top-k, top-p, min-p and logprobs are decided from k pairs per row instead of the whole
// vocabulary.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// The largest k the launcher takes.
inline constexpr int64_t kMaxTopCandidates = 1024;

// logits fp32 [rows, row_stride]; only columns [0, valid_cols) count, column c being token
// id_offset + c. out fp32 [rows, 2k] contiguous: (logit, id) pairs of the k largest logits, larger
// logit first and lower column first among equal logits (-0.0 equals +0.0; -inf logits are
// candidates like any other); pairs past the valid columns are (-inf, -1). Ids are exact as floats
// below 2^24. No NaN logits. k <= kMaxTopCandidates, valid_cols < 2^31.
struct TopCandidatesArgs {
  const float* logits = nullptr;
  int64_t row_stride = 0;  // elements
  int64_t rows = 0;
  int64_t valid_cols = 0;
  int64_t id_offset = 0;
  int64_t k = 0;
  float* out = nullptr;
};
cudaError_t LaunchTopCandidates(const TopCandidatesArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
