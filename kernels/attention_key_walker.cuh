// KeyWalker: one warp's cursor over a sequence's cached keys, in page order, clipped to the
// positions a block of queries can see. Private to kernels/paged_attention.cu.
//
// A sequence's key list is the concatenation, over its pages in metadata order, of each page's
// keys whose positions lie in [lo, hi] (a page holds consecutive positions, so that is one run of
// consecutive slots per page). The walker hands the list out in order, up to 64 keys at a time,
// as (slot, position) pairs. Lane i of the warp owns page window_base + i of a 32-page window and
// the keys of that page still to hand out; the next window's metadata is prefetched so that a
// window change costs no memory latency on the critical path.
//
// Every member is warp-uniform except the per-lane page state; every function must be called by
// all 32 lanes of the warp together.
#pragma once

#include <climits>
#include <cstdint>

#include <cuda_runtime.h>

namespace tspserve::kernels::attention {

constexpr unsigned kFullMask = 0xffffffffu;

struct KeyWalker {
  const int32_t* first_slot;
  const int32_t* first_position;
  const int32_t* num_tokens;
  int32_t window_base;  // page of lane 0 in the current window
  int32_t page_end;     // one past the sequence's last page
  int64_t lo;           // visible positions: [lo, hi]
  int64_t hi;
  // This lane's page of the current window: the next key to hand out and how many are left.
  int32_t slot;
  int32_t position;
  int32_t count;
  // This lane's page of the next window, raw metadata (count 0 past the end).
  int32_t next_slot;
  int32_t next_position;
  int32_t next_count;

  __device__ void Init(const int32_t* first_slots, const int32_t* first_positions,
                       const int32_t* page_num_tokens, int32_t page_begin, int32_t page_stop,
                       int64_t min_position, int64_t max_position) {
    first_slot = first_slots;
    first_position = first_positions;
    num_tokens = page_num_tokens;
    window_base = page_begin;
    page_end = page_stop;
    lo = min_position;
    hi = max_position;
    int32_t s, p, n;
    LoadRaw(window_base, s, p, n);
    Clip(s, p, n);
    LoadRaw(window_base + 32, next_slot, next_position, next_count);
  }

  // Hands out up to `need` keys (need <= 64 when kWrite) and returns how many it did (fewer only
  // when the list is exhausted). With kWrite, key e goes to slots[e], positions[e], and this
  // lane's min/max written position is folded into key_min/key_max.
  template <bool kWrite>
  __device__ int64_t Take(int64_t need, int32_t* slots, int32_t* positions, int32_t& key_min,
                          int32_t& key_max) {
    const int lane = threadIdx.x & 31;
    int64_t filled = 0;
    while (filled < need) {
      const unsigned nonempty = __ballot_sync(kFullMask, count > 0);
      if (nonempty == 0) {
        if (window_base + 32 >= page_end) break;
        NextWindow();
        continue;
      }
      // Fast path, the common case for long pages: the first non-empty page supplies the rest.
      const int first = __ffs(nonempty) - 1;
      if (__shfl_sync(kFullMask, count, first) >= need - filled) {
        const int32_t n = static_cast<int32_t>(need - filled);
        if constexpr (kWrite) {
          const int32_t first_slot_left = __shfl_sync(kFullMask, slot, first);
          const int32_t first_position_left = __shfl_sync(kFullMask, position, first);
          for (int32_t e = lane; e < n; e += 32) {
            slots[filled + e] = first_slot_left + e;
            positions[filled + e] = first_position_left + e;
          }
          if (lane == 0) {
            key_min = min(key_min, first_position_left);
            key_max = max(key_max, first_position_left + n - 1);
          }
        }
        if (lane == first) {
          slot += n;
          position += n;
          count -= n;
        }
        filled += n;
        break;
      }
      const int32_t inclusive = InclusiveSum(count);
      const int32_t total = __shfl_sync(kFullMask, inclusive, 31);
      const int32_t exclusive = inclusive - count;
      const int32_t n = static_cast<int32_t>(need - filled < total ? need - filled : total);
      if constexpr (kWrite) {
        for (int32_t base = 0; base < n; base += 32) {
          const int32_t e = base + lane;
          const int k = OwnerLane(inclusive, e);
          const int32_t offset = e - __shfl_sync(kFullMask, exclusive, k);
          const int32_t key_slot = __shfl_sync(kFullMask, slot, k) + offset;
          const int32_t key_position = __shfl_sync(kFullMask, position, k) + offset;
          if (e < n) {
            slots[filled + e] = key_slot;
            positions[filled + e] = key_position;
            key_min = min(key_min, key_position);
            key_max = max(key_max, key_position);
          }
        }
      }
      const int32_t taken = max(0, min(n - exclusive, count));
      slot += taken;
      position += taken;
      count -= taken;
      filled += n;
    }
    return filled;
  }

 private:
  __device__ static int32_t InclusiveSum(int32_t v) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
      const int32_t u = __shfl_up_sync(kFullMask, v, d);
      if (lane >= d) v += u;
    }
    return v;
  }

  // The lowest lane whose inclusive sum exceeds e (e < the window's total).
  __device__ static int OwnerLane(int32_t inclusive, int32_t e) {
    int k = 0;
#pragma unroll
    for (int step = 16; step >= 1; step >>= 1) {
      if (__shfl_sync(kFullMask, inclusive, k + step - 1) <= e) k += step;
    }
    return k;
  }

  __device__ void LoadRaw(int32_t window, int32_t& s, int32_t& p, int32_t& n) const {
    const int32_t page = window + static_cast<int32_t>(threadIdx.x & 31);
    if (page < page_end) {
      s = __ldg(first_slot + page);
      p = __ldg(first_position + page);
      n = __ldg(num_tokens + page);
    } else {
      s = 0;
      p = 0;
      n = 0;
    }
  }

  // This lane's page becomes the keys of [s, s + n) (positions p...) that lie in [lo, hi].
  __device__ void Clip(int32_t s, int32_t p, int32_t n) {
    int64_t begin = lo - p;
    int64_t end = hi - p + 1;
    begin = begin < 0 ? 0 : (begin > n ? n : begin);
    end = end < 0 ? 0 : (end > n ? n : end);
    count = end > begin ? static_cast<int32_t>(end - begin) : 0;
    slot = s + static_cast<int32_t>(begin);
    position = p + static_cast<int32_t>(begin);
  }

  __device__ void NextWindow() {
    window_base += 32;
    Clip(next_slot, next_position, next_count);
    LoadRaw(window_base + 32, next_slot, next_position, next_count);
  }
};

}  // namespace tspserve::kernels::attention
