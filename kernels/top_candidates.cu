#include "kernels/top_candidates.h"

#include <cstdint>

namespace tspserve::kernels {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kRadixBits = 8;
constexpr int kBins = 1 << kRadixBits;
constexpr int kBinsPerLane = kBins / 32;

// One block's shared memory: the collected candidates (unordered until WriteSorted), the radix
// histogram and the small results that threads hand each other.
struct Shared {
  float logit[kMaxTopCandidates];
  int32_t column[kMaxTopCandidates];
  unsigned histogram[kBins];
  int warp_counts[kWarps];  // Collect: columns equal to the threshold per warp in one tile
  int above_count;          // Collect: candidates above the threshold so far
  uint32_t digit;           // SelectDigit's results
  int remaining;
};

// An unsigned key with the order of the floats: the sign bit flipped for positives, every bit for
// negatives. -0.0 counts as +0.0 (they compare equal as floats). Never 0 for a non-NaN float.
__device__ __forceinline__ uint32_t OrderedKey(float x) {
  const uint32_t bits = __float_as_uint(x == 0.0f ? 0.0f : x);
  return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
}

// The `rank`-th largest key (1-based) is `key`; `equal_needed` of the first `rank` keys equal it
// (the others are above it).
struct Threshold {
  uint32_t key;
  int equal_needed;
};

// Run by all 32 lanes of warp 0 over a full histogram of the keys that match the prefix found so
// far: stores in s the digit d with above(d) < remaining <= above(d) + histogram[d] (above(d):
// the counted keys with a larger digit) and remaining - above(d). Needs 1 <= remaining <= the
// histogram's total. Lane L owns digits kBins-1 - kBinsPerLane*L downwards.
__device__ void SelectDigit(int remaining, Shared& s) {
  const int lane = threadIdx.x % 32;
  const int top = kBins - 1 - kBinsPerLane * lane;
  int local = 0;
  for (int j = 0; j < kBinsPerLane; ++j) local += static_cast<int>(s.histogram[top - j]);
  int inclusive = local;  // the counts of lanes 0..lane
#pragma unroll
  for (int offset = 1; offset < 32; offset *= 2) {
    const int v = __shfl_up_sync(kFullMask, inclusive, offset);
    if (lane >= offset) inclusive += v;
  }
  int above = inclusive - local;
  if (above < remaining && remaining <= inclusive) {  // exactly one lane
    for (int j = 0; j < kBinsPerLane; ++j) {
      const int count = static_cast<int>(s.histogram[top - j]);
      if (above + count >= remaining) {
        s.digit = static_cast<uint32_t>(top - j);
        s.remaining = remaining - above;
        break;
      }
      above += count;
    }
  }
}

// Radix select of the `rank`-th largest key of row[0, n) (1 <= rank <= n), 8 bits a pass from
// the top. Every thread calls it; it ends with a barrier.
__device__ Threshold SelectThreshold(const float* row, int64_t n, int rank, Shared& s) {
  uint32_t prefix = 0, mask = 0;
  int remaining = rank;
  for (int shift = 32 - kRadixBits; shift >= 0; shift -= kRadixBits) {
    for (int i = threadIdx.x; i < kBins; i += kThreads) s.histogram[i] = 0;
    __syncthreads();
    for (int64_t c = threadIdx.x; c < n; c += kThreads) {
      const uint32_t key = OrderedKey(row[c]);
      if ((key & mask) == prefix) atomicAdd(&s.histogram[(key >> shift) & (kBins - 1)], 1u);
    }
    __syncthreads();
    if (threadIdx.x < 32) SelectDigit(remaining, s);
    __syncthreads();
    prefix |= s.digit << shift;
    mask |= static_cast<uint32_t>(kBins - 1) << shift;
    remaining = s.remaining;
  }
  return Threshold{prefix, remaining};
}

// Stores the `kept` candidates in s.logit / s.column: every column whose key is above t.key (in
// any order, at [0, num_above)), then the first t.equal_needed columns whose key equals it, in
// column order (at [num_above, kept)). Tiles of kThreads columns; the equal columns of a tile are
// numbered by warp ballots. Stops once all are found. s.above_count must be 0 and visible to all
// threads. Every thread calls it; it ends with a barrier (n > 0).
__device__ void Collect(const float* row, int64_t n, Threshold t, int kept, Shared& s) {
  const int num_above = kept - t.equal_needed;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int equal_taken = 0;  // equal columns in earlier tiles; the same in every thread
  for (int64_t base = 0; base < n; base += kThreads) {
    const int64_t c = base + threadIdx.x;
    const bool in_row = c < n;
    const float x = in_row ? row[c] : 0.0f;
    const uint32_t key = in_row ? OrderedKey(x) : 0u;
    if (in_row && key > t.key) {
      const int slot = atomicAdd(&s.above_count, 1);
      if (slot < num_above) {  // always, unless a NaN broke the select
        s.logit[slot] = x;
        s.column[slot] = static_cast<int32_t>(c);
      }
    }
    const bool equal = in_row && key == t.key;
    const unsigned ballot = __ballot_sync(kFullMask, equal);
    if (lane == 0) s.warp_counts[warp] = __popc(ballot);
    __syncthreads();
    int before = equal_taken, tile_equal = 0;
    for (int w = 0; w < kWarps; ++w) {
      const int count = s.warp_counts[w];
      if (w < warp) before += count;
      tile_equal += count;
    }
    if (equal) {
      const int index = before + __popc(ballot & ((1u << lane) - 1u));
      if (index < t.equal_needed) {
        s.logit[num_above + index] = x;
        s.column[num_above + index] = static_cast<int32_t>(c);
      }
    }
    equal_taken += tile_equal;
    // s.above_count is stable between the two barriers, so `done` is the same in every thread.
    const bool done = equal_taken >= t.equal_needed && s.above_count >= num_above;
    __syncthreads();
    if (done) break;
  }
}

// Writes the kept candidates in order, then the (-inf, -1) pads up to k. A rank sort: an entry's
// position is the number of entries that beat it (a larger logit, or an equal one at a lower
// column); positions are distinct because columns are.
__device__ void WriteSorted(const Shared& s, int kept, int k, int64_t id_offset, float* out) {
  for (int i = threadIdx.x; i < kept; i += kThreads) {
    const float x = s.logit[i];
    const int32_t c = s.column[i];
    int rank = 0;
    for (int j = 0; j < kept; ++j) {
      const float y = s.logit[j];
      rank += (y > x || (y == x && s.column[j] < c)) ? 1 : 0;
    }
    out[2 * rank] = x;
    out[2 * rank + 1] = static_cast<float>(id_offset + c);
  }
  for (int i = kept + threadIdx.x; i < k; i += kThreads) {
    out[2 * i] = -INFINITY;
    out[2 * i + 1] = -1.0f;
  }
}

// One block per row: select the threshold, collect the kept candidates, sort and write them.
__global__ void __launch_bounds__(kThreads) TopCandidatesKernel(TopCandidatesArgs args) {
  __shared__ Shared s;
  const int64_t r = blockIdx.x;
  const float* row = args.logits + r * args.row_stride;
  float* out = args.out + 2 * args.k * r;
  const int k = static_cast<int>(args.k);
  const int64_t n = args.valid_cols;
  const int kept = static_cast<int>(n < args.k ? n : args.k);
  if (kept > 0) {  // the same in every thread, so the barriers below are reached by all
    if (threadIdx.x == 0) s.above_count = 0;
    __syncthreads();
    // Keeping every column: no key is 0, so all are above a threshold of 0.
    const Threshold t = kept == n ? Threshold{0u, 0} : SelectThreshold(row, n, kept, s);
    Collect(row, n, t, kept, s);
  }
  WriteSorted(s, kept, k, args.id_offset, out);
}

}  // namespace

cudaError_t LaunchTopCandidates(const TopCandidatesArgs& args, cudaStream_t stream) {
  if (args.rows < 0 || args.rows > INT32_MAX || args.valid_cols < 0 ||
      args.valid_cols > INT32_MAX || args.k < 0 || args.k > kMaxTopCandidates) {
    return cudaErrorInvalidValue;
  }
  if (args.rows == 0 || args.k == 0) return cudaSuccess;
  if (args.out == nullptr || (args.valid_cols > 0 && args.logits == nullptr)) {
    return cudaErrorInvalidValue;
  }
  TopCandidatesKernel<<<static_cast<unsigned>(args.rows), kThreads, 0, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
