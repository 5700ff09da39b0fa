#include "kernels/penalize_logits.h"

#include <cstdint>

namespace tspserve::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;

// One thread per entry (grid-stride). Entries never repeat a (row, id), so no two threads write
// the same logit.
__global__ void __launch_bounds__(kThreads) PenalizeLogitsKernel(PenalizeLogitsArgs args) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
       e < args.num_entries; e += step) {
    const int32_t* entry = args.entries + 3 * e;
    const int64_t row = entry[0];
    const int64_t column = static_cast<int64_t>(entry[1]) - args.id_offset;
    const int32_t count = entry[2];
    if (row < 0 || row >= args.rows || column < 0 || column >= args.valid_cols) continue;
    float* logit = args.logits + row * args.row_stride + column;
    if (count < 0) {
      *logit = -INFINITY;
      continue;
    }
    const float* penalty = args.penalties + 3 * row;
    const float repetition = penalty[0];
    float x = *logit;
    if (repetition != 1.0f) {
      x = x > 0.0f ? __fdiv_rn(x, repetition) : __fmul_rn(x, repetition);
    }
    if (count > 0) {
      const float frequency = penalty[1], presence = penalty[2];
      x = __fsub_rn(x, __fadd_rn(__fmul_rn(frequency, static_cast<float>(count)), presence));
    }
    *logit = x;
  }
}

}  // namespace

cudaError_t LaunchPenalizeLogits(const PenalizeLogitsArgs& args, cudaStream_t stream) {
  if (args.rows < 0 || args.valid_cols < 0 || args.num_entries < 0 ||
      args.num_entries > INT64_MAX / 3) {
    return cudaErrorInvalidValue;
  }
  if (args.num_entries == 0 || args.rows == 0 || args.valid_cols == 0) return cudaSuccess;
  if (args.logits == nullptr || args.entries == nullptr || args.penalties == nullptr) {
    return cudaErrorInvalidValue;
  }
  const int64_t blocks = (args.num_entries + kThreads - 1) / kThreads;
  PenalizeLogitsKernel<<<static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks),
                         kThreads, 0, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
