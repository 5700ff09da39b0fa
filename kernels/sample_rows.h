// The sampling race on the GPU (Backend::SampleRows): per row of fp32 logits, the winner of the
// race (the largest key, see below), its logit and the row's two log-sum-exps, so a sampling step
// returns four numbers per sequence instead of the whole vocabulary.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// logits fp32 [rows, row_stride]; only columns [0, valid_cols) count, column c being token
// id = id_offset + c. races [rows, 2] holds each row's (seed, step), read as uint64; temperatures
// [rows] each row's T. Column c's key, in double: the logit when T == 0, else
//   (double)logit / T - log(-log(u)),  u = ((h >> 11) + 0.5) * 2^-53,
//   h = Mix(Mix(seed ^ Mix(step * 0x9E3779B97F4A7C15 + 0xD1B54A32D192ED03))
//           + id * 0x9E3779B97F4A7C15),
// Mix being SplitMix64 (kernels/fill_random.h). out fp32 [rows, 4] contiguous: the winner's logit,
// its id (largest key, lowest column on ties; exact as a float below 2^24), log-sum-exp of the
// logits, log-sum-exp of logits / T (of the logits when T is 0). A row with no valid column gets
// (-inf, -1, -inf, -inf); one whose keys are all -inf gets column 0 with lse -inf.
struct SampleRowsArgs {
  const float* logits = nullptr;
  int64_t row_stride = 0;  // elements
  int64_t rows = 0;
  int64_t valid_cols = 0;
  int64_t id_offset = 0;
  const int64_t* races = nullptr;
  const float* temperatures = nullptr;
  float* out = nullptr;
};
cudaError_t LaunchSampleRows(const SampleRowsArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
