// Repetition, frequency and presence penalties and banned tokens on the GPU
// (Backend::PenalizeLogits), in place on one vocabulary shard of fp32 logits.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// logits fp32 [rows, row_stride]; only columns [0, valid_cols) count, column c being token
// id_offset + c. entries int32 [num_entries, 3] contiguous holds (row, token id, count), at most
// one entry per (row, id); entries whose id is outside the shard or whose row is outside
// [0, rows) are skipped. penalties fp32 [rows, 3] contiguous holds each row's (repetition,
// frequency, presence). For an entry's logit x: count < 0 makes it -inf; otherwise, when
// repetition != 1, x = x > 0 ? x / repetition : x * repetition, then, when count > 0,
// x = x - (frequency * count + presence), each step rounded once (no FMA).
struct PenalizeLogitsArgs {
  float* logits = nullptr;
  int64_t row_stride = 0;  // elements
  int64_t rows = 0;
  int64_t valid_cols = 0;
  int64_t id_offset = 0;
  const int32_t* entries = nullptr;
  int64_t num_entries = 0;
  const float* penalties = nullptr;
};
cudaError_t LaunchPenalizeLogits(const PenalizeLogitsArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
