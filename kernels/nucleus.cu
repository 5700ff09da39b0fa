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

// Columns one block histograms at least; a row is split over at most kMaxSplits blocks, and a
// step over at most kMaxBlocks (fewer splits per row in large batches, which fill the GPU anyway),
// so the workspace stays under kMaxBlocks partial histograms (3 MiB) up to that many rows.
constexpr int64_t kColumnsPerSplit = 4096;
constexpr int64_t kMaxSplits = 32;
constexpr int64_t kMaxBlocks = 1024;

int64_t SplitsOf(int64_t rows, int64_t valid_cols) {
  const int64_t by_columns = (valid_cols + kColumnsPerSplit - 1) / kColumnsPerSplit;
  const int64_t by_rows = rows > 0 ? kMaxBlocks / rows : kMaxSplits;
  const int64_t splits = by_columns < by_rows ? by_columns : by_rows;
  return splits < 1 ? 1 : splits > kMaxSplits ? kMaxSplits : splits;
}

// Block (split, row) histograms its share of the row's columns in shared memory. Each thread walks
// a strided subset keeping a run of the same digit in registers (count and mass) and adds a run
// to the shared bins (atomics; double atomicAdd for the masses) only when its digit changes: in
// the first rounds nearly every key shares the same byte, and one shared bin taking every
// column's atomic would serialize the block. Thread b then writes bin b of the block's partial
// histogram (zeros for a skipped row, so every partial is written).
__global__ void __launch_bounds__(kHistogramThreads) PartialKeyHistogramKernel(KeyHistogramArgs args,
                                                                               int64_t splits) {
  __shared__ uint32_t counts[kBins];
  __shared__ double masses[kBins];
  static_assert(kHistogramThreads == kBins, "one bin per thread when zeroing and writing");
  const int64_t split = blockIdx.x, r = blockIdx.y;
  counts[threadIdx.x] = 0;
  masses[threadIdx.x] = 0.0;
  __syncthreads();
  const uint64_t prefix = static_cast<uint64_t>(args.queries[2 * r]);
  const int64_t shift = args.queries[2 * r + 1];
  if (shift >= 0 && shift <= kTopShift) {  // the same in every thread
    const int s = static_cast<int>(shift);
    const double m = args.scales[2 * r];
    const double inverse_t = 1.0 / static_cast<double>(args.scales[2 * r + 1]);
    const float* row = args.logits + r * args.row_stride;
    const int64_t chunk = (args.valid_cols + splits - 1) / splits;
    const int64_t end = min(args.valid_cols, (split + 1) * chunk);
    uint32_t run_digit = 0, run_count = 0;
    double run_mass = 0.0;
    for (int64_t c = split * chunk + threadIdx.x; c < end; c += kHistogramThreads) {
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
      run_mass += exp((static_cast<double>(x) - m) * inverse_t);
    }
    if (run_count > 0) {
      atomicAdd(&counts[run_digit], run_count);
      atomicAdd(&masses[run_digit], run_mass);
    }
  }
  __syncthreads();
  const int64_t partial = (r * splits + split) * kBins + threadIdx.x;
  static_cast<uint32_t*>(args.workspace)[partial] = counts[threadIdx.x];
  (reinterpret_cast<double*>(static_cast<uint32_t*>(args.workspace) + args.rows * splits * kBins))[partial] =
      masses[threadIdx.x];
}

// One block per row: thread b sums bin b over the row's splits, in split order.
__global__ void __launch_bounds__(kHistogramThreads) SumKeyHistogramsKernel(KeyHistogramArgs args, int64_t splits) {
  const int64_t r = blockIdx.x;
  const uint32_t* counts = static_cast<const uint32_t*>(args.workspace);
  const double* masses = reinterpret_cast<const double*>(counts + args.rows * splits * kBins);
  uint32_t count = 0;
  double mass = 0.0;
  for (int64_t split = 0; split < splits; ++split) {
    const int64_t partial = (r * splits + split) * kBins + threadIdx.x;
    count += counts[partial];
    mass += masses[partial];
  }
  float* out = args.out + kKeyHistogramWidth * r;
  out[threadIdx.x] = static_cast<float>(count);
  out[kBins + threadIdx.x] = static_cast<float>(mass);
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

size_t KeyHistogramWorkspaceBytes(int64_t rows, int64_t valid_cols) {
  // Counts (uint32) first, then masses (double): 8-byte aligned since the counts are a multiple
  // of 256 entries.
  return static_cast<size_t>(rows * SplitsOf(rows, valid_cols) * kBins) * (sizeof(uint32_t) + sizeof(double));
}

cudaError_t LaunchKeyHistogram(const KeyHistogramArgs& args, cudaStream_t stream) {
  if (args.rows < 0 || args.rows > 65535 || args.valid_cols < 0) return cudaErrorInvalidValue;
  if (args.rows == 0) return cudaSuccess;
  if (args.out == nullptr || args.queries == nullptr || args.scales == nullptr || args.workspace == nullptr ||
      (args.valid_cols > 0 && args.logits == nullptr)) {
    return cudaErrorInvalidValue;
  }
  const int64_t splits = SplitsOf(args.rows, args.valid_cols);
  const dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(args.rows));
  PartialKeyHistogramKernel<<<grid, kHistogramThreads, 0, stream>>>(args, splits);
  SumKeyHistogramsKernel<<<static_cast<unsigned>(args.rows), kHistogramThreads, 0, stream>>>(args, splits);
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
