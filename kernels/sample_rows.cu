#include "kernels/sample_rows.h"

#include <cstdint>

namespace tspserve::kernels {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int64_t kNoColumn = INT64_MAX;  // the column of a partial that has seen none

__device__ __forceinline__ uint64_t SplitMix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// What the keys of one row need: its temperature, the part of h that depends on (seed, step)
// only, Mix(seed ^ Mix(step * 0x9E3779B97F4A7C15 + 0xD1B54A32D192ED03)), and the id of column 0.
struct RowRace {
  float temperature;
  uint64_t hash;
  int64_t id_offset;
};

__device__ __forceinline__ RowRace LoadRowRace(const SampleRowsArgs& args, int64_t row) {
  const auto seed = static_cast<uint64_t>(args.races[2 * row]);
  const auto step = static_cast<uint64_t>(args.races[2 * row + 1]);
  RowRace race;
  race.temperature = args.temperatures[row];
  race.hash = SplitMix64(seed ^ SplitMix64(step * 0x9E3779B97F4A7C15ull + 0xD1B54A32D192ED03ull));
  race.id_offset = args.id_offset;
  return race;
}

// The race key of `column` (T > 0): logit / T - log(-log(u)) in double, every step rounded as on
// the host (explicit _rn intrinsics, so nothing is contracted into an FMA).
__device__ __forceinline__ double RaceKey(double scaled_logit, const RowRace& race,
                                          int64_t column) {
  const uint64_t id = static_cast<uint64_t>(race.id_offset + column);
  const uint64_t h = SplitMix64(race.hash + id * 0x9E3779B97F4A7C15ull);
  const double u = __dmul_rn(__dadd_rn(static_cast<double>(h >> 11), 0.5), 0x1.0p-53);
  return __dsub_rn(scaled_logit, log(-log(u)));
}

// A running log-sum-exp over some values: their max and the sum of exp(x - max). max == -inf
// means no finite value yet (sum is then meaningless).
struct LogSumExp {
  double max;
  float sum;
};

__device__ __forceinline__ LogSumExp MergeLse(LogSumExp a, LogSumExp b) {
  if (b.max == -INFINITY) return a;
  if (a.max == -INFINITY) return b;
  const double m = fmax(a.max, b.max);
  return LogSumExp{m, a.sum * __expf(static_cast<float>(a.max - m)) +
                          b.sum * __expf(static_cast<float>(b.max - m))};
}

__device__ __forceinline__ float FinishLse(LogSumExp l) {
  if (l.max == -INFINITY) return -INFINITY;
  return static_cast<float>(l.max + log(static_cast<double>(l.sum)));
}

// A running race over some columns: the best key (largest, then lowest column), its column and
// logit, and the log-sum-exps of the raw and the temperature-scaled logits. No default member
// initializers: it lives in __shared__ memory.
struct Partial {
  double key;
  int64_t column;
  float logit;
  LogSumExp raw;
  LogSumExp scaled;
};

__device__ __forceinline__ Partial EmptyPartial() {
  return Partial{-INFINITY, kNoColumn, -INFINITY, {-INFINITY, 0.0f}, {-INFINITY, 0.0f}};
}

// The partial of one column holding `logit`. A -inf logit gets key -inf (it wins only a row whose
// keys are all -inf) and adds nothing to the sums.
__device__ __forceinline__ Partial ColumnPartial(float logit, int64_t column, const RowRace& race) {
  Partial p;
  p.column = column;
  p.logit = logit;
  p.raw = LogSumExp{logit, 1.0f};
  if (race.temperature == 0.0f) {
    p.key = logit;
    p.scaled = p.raw;
  } else {
    const double scaled =
        __ddiv_rn(static_cast<double>(logit), static_cast<double>(race.temperature));
    p.key = RaceKey(scaled, race, column);
    p.scaled = LogSumExp{scaled, 1.0f};
  }
  return p;
}

// The race over the union of the columns of a and b (disjoint). The winner does not depend on
// the order of merges: (key descending, column ascending) is a total order.
__device__ __forceinline__ Partial Merge(const Partial& a, const Partial& b) {
  const bool b_wins = b.key > a.key || (b.key == a.key && b.column < a.column);
  Partial out = b_wins ? b : a;
  out.raw = MergeLse(a.raw, b.raw);
  out.scaled = MergeLse(a.scaled, b.scaled);
  return out;
}

__device__ __forceinline__ LogSumExp ShuffleXor(LogSumExp l, int mask) {
  return LogSumExp{__shfl_xor_sync(kFullMask, l.max, mask),
                   __shfl_xor_sync(kFullMask, l.sum, mask)};
}

__device__ __forceinline__ Partial ShuffleXor(const Partial& p, int mask) {
  Partial q;
  q.key = __shfl_xor_sync(kFullMask, p.key, mask);
  q.column = __shfl_xor_sync(kFullMask, static_cast<long long>(p.column), mask);
  q.logit = __shfl_xor_sync(kFullMask, p.logit, mask);
  q.raw = ShuffleXor(p.raw, mask);
  q.scaled = ShuffleXor(p.scaled, mask);
  return q;
}

// The merge of `p` over the 32 lanes of the warp, in every lane. All lanes must call it.
__device__ __forceinline__ Partial WarpMerge(Partial p) {
#pragma unroll
  for (int mask = 16; mask > 0; mask /= 2) p = Merge(p, ShuffleXor(p, mask));
  return p;
}

// One block per row: each thread races a strided subset of the columns, then warps and the
// block merge their partials; thread 0 writes the row's four numbers.
__global__ void __launch_bounds__(kThreads) SampleRowsKernel(SampleRowsArgs args) {
  const int64_t r = blockIdx.x;
  const float* row = args.logits + r * args.row_stride;
  const RowRace race = LoadRowRace(args, r);
  Partial p = EmptyPartial();
  for (int64_t c = threadIdx.x; c < args.valid_cols; c += kThreads) {
    p = Merge(p, ColumnPartial(row[c], c, race));
  }
  p = WarpMerge(p);

  __shared__ Partial warp_partials[kWarps];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_partials[warp] = p;
  __syncthreads();
  if (warp != 0) return;  // after the only barrier
  p = WarpMerge(lane < kWarps ? warp_partials[lane] : EmptyPartial());
  if (lane == 0) {
    float* out = args.out + 4 * r;
    out[0] = p.logit;
    out[1] = p.column == kNoColumn ? -1.0f : static_cast<float>(args.id_offset + p.column);
    out[2] = FinishLse(p.raw);
    out[3] = FinishLse(p.scaled);
  }
}

}  // namespace

cudaError_t LaunchSampleRows(const SampleRowsArgs& args, cudaStream_t stream) {
  if (args.rows < 0 || args.valid_cols < 0 || args.rows > INT32_MAX) return cudaErrorInvalidValue;
  if (args.rows == 0) return cudaSuccess;
  if (args.out == nullptr || args.races == nullptr || args.temperatures == nullptr ||
      (args.valid_cols > 0 && args.logits == nullptr)) {
    return cudaErrorInvalidValue;
  }
  SampleRowsKernel<<<static_cast<unsigned>(args.rows), kThreads, 0, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
