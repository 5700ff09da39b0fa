#include "kernels/nucleus.h"

#include <cstdint>

namespace tspserve::kernels {
namespace {

constexpr int kHistogramThreads = 256;
constexpr int kBins = 256;
constexpr int kDigitBits = 8;
constexpr int kTopShift = 64 - kDigitBits;  // the digit that needs no prefix
constexpr int kMaskThreads = 256;
constexpr int64_t kMaxMaskColumnBlocks = 1 << 12;  // grid.x; threads loop over the rest
constexpr int64_t kMaxMaskRowBlocks = 65535;       // grid.y's limit

// engine/common/rank_key.h's OrderedBits: monotone in the float, -0 read as +0 so that equal
// logits get equal bits.
__device__ __forceinline__ uint32_t OrderedBits(float logit) {
  const uint32_t bits = logit == 0.0f ? 0u : __float_as_uint(logit);
  return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
}

// engine/common/rank_key.h's RankKey: larger logit first, then lower id (the id's low 32 bits).
__device__ __forceinline__ uint64_t RankKey(float logit, int64_t id) {
  return static_cast<uint64_t>(OrderedBits(logit)) << 32 |
         (0xFFFFFFFFu - static_cast<uint32_t>(id));
}

// One block per row. The row's histogram lives in shared memory. Each thread walks a strided
// subset of the columns keeping a run of the same digit in registers (count and mass) and adds a
// run to the shared bins (atomics; double atomicAdd for the masses) only when its digit changes:
// in the first rounds nearly every key shares the same byte, and one shared bin taking every
// column's atomic would serialize the row. Then thread b writes bin b; a skipped row keeps the
// zeroed bins, so every output element is written.
__global__ void __launch_bounds__(kHistogramThreads) KeyHistogramKernel(KeyHistogramArgs args) {
  __shared__ uint32_t counts[kBins];
  __shared__ double masses[kBins];
  static_assert(kHistogramThreads == kBins, "one bin per thread when zeroing and writing");
  const int64_t r = blockIdx.x;
  counts[threadIdx.x] = 0;
  masses[threadIdx.x] = 0.0;
  __syncthreads();
  const uint64_t prefix = static_cast<uint64_t>(args.queries[2 * r]);
  const int64_t shift = args.queries[2 * r + 1];
  if (shift >= 0 && shift <= kTopShift) {  // the same in every thread
    const int s = static_cast<int>(shift);
    const double m = args.scales[2 * r];
    const double t = args.scales[2 * r + 1];
    const float* row = args.logits + r * args.row_stride;
    uint32_t run_digit = 0, run_count = 0;
    double run_mass = 0.0;
    for (int64_t c = threadIdx.x; c < args.valid_cols; c += kHistogramThreads) {
      const float x = row[c];
      if (x == -INFINITY) continue;
      const uint64_t key = RankKey(x, args.id_offset + c);
      if (s < kTopShift && (key >> (s + kDigitBits)) != (prefix >> (s + kDigitBits))) continue;
      const uint32_t digit = static_cast<uint32_t>(key >> s) & (kBins - 1);
      if (digit != run_digit && run_count > 0) {
        atomicAdd(&counts[run_digit], run_count);
        atomicAdd(&masses[run_digit], run_mass);
        run_count = 0;
        run_mass = 0.0;
      }
      run_digit = digit;
      ++run_count;
      run_mass += exp(__ddiv_rn(__dsub_rn(static_cast<double>(x), m), t));
    }
    if (run_count > 0) {
      atomicAdd(&counts[run_digit], run_count);
      atomicAdd(&masses[run_digit], run_mass);
    }
  }
  __syncthreads();
  float* out = args.out + kKeyHistogramWidth * r;
  out[threadIdx.x] = static_cast<float>(counts[threadIdx.x]);
  out[kBins + threadIdx.x] = static_cast<float>(masses[threadIdx.x]);
}

// A 2-D grid: blocks along y stride over the rows, blocks along x over the valid columns; each
// thread tests its columns' keys against the row's threshold and writes only the masked ones.
__global__ void __launch_bounds__(kMaskThreads) MaskLogitsKernel(MaskLogitsArgs args) {
  const int64_t column_step = static_cast<int64_t>(gridDim.x) * kMaskThreads;
  const int64_t first_column = static_cast<int64_t>(blockIdx.x) * kMaskThreads + threadIdx.x;
  for (int64_t r = blockIdx.y; r < args.rows; r += gridDim.y) {
    const uint64_t keep_from = static_cast<uint64_t>(args.thresholds[r]);
    if (keep_from == 0) continue;  // every key is >= 0
    float* row = args.logits + r * args.row_stride;
    for (int64_t c = first_column; c < args.valid_cols; c += column_step) {
      if (RankKey(row[c], args.id_offset + c) < keep_from) row[c] = -INFINITY;
    }
  }
}

}  // namespace

cudaError_t LaunchKeyHistogram(const KeyHistogramArgs& args, cudaStream_t stream) {
  if (args.rows < 0 || args.rows > INT32_MAX || args.valid_cols < 0) return cudaErrorInvalidValue;
  if (args.rows == 0) return cudaSuccess;
  if (args.out == nullptr || args.queries == nullptr || args.scales == nullptr ||
      (args.valid_cols > 0 && args.logits == nullptr)) {
    return cudaErrorInvalidValue;
  }
  KeyHistogramKernel<<<static_cast<unsigned>(args.rows), kHistogramThreads, 0, stream>>>(args);
  return cudaGetLastError();
}

cudaError_t LaunchMaskLogits(const MaskLogitsArgs& args, cudaStream_t stream) {
  if (args.rows < 0 || args.valid_cols < 0) return cudaErrorInvalidValue;
  if (args.rows == 0 || args.valid_cols == 0) return cudaSuccess;
  if (args.logits == nullptr || args.thresholds == nullptr) return cudaErrorInvalidValue;
  const int64_t column_blocks = (args.valid_cols + kMaskThreads - 1) / kMaskThreads;
  const dim3 grid(
      static_cast<unsigned>(column_blocks < kMaxMaskColumnBlocks ? column_blocks
                                                                 : kMaxMaskColumnBlocks),
      static_cast<unsigned>(args.rows < kMaxMaskRowBlocks ? args.rows : kMaxMaskRowBlocks));
  MaskLogitsKernel<<<grid, kMaskThreads, 0, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
