// The flash-attention tile kernel behind LaunchPagedAttention: one CTA attends up to 64 query
// rows of one sequence that all read one K/V head, streaming that sequence's keys from the paged
// cache in tiles of 64 (cp.async, 2 or 3 stages in flight), with tensor-core mma.sync and an
// fp32 online softmax. Private to kernels/paged_attention.cu.
//
// Three row layouts / outputs, chosen at compile time:
//  - prefill (kPairs false): the rows are up to 64 consecutive query tokens of the sequence, all
//    of query head blockIdx.x; output bf16 out and lse.
//  - decode (kPairs true): the rows are (token, head) pairs of the sequence for the query heads
//    of this call that read K/V head kv_first + blockIdx.y / row_tiles, token-major (16 or 64 per
//    CTA); with kSplit the CTA covers only key chunk blockIdx.x of the sequence's key list and
//    writes its normalized fp32 partial output and lse to the workspace for the combine kernel.
// Keys: the walker warp lists each tile's (slot, position) pairs from the pages, clipped to the
// positions the CTA's rows can see; a tile whose keys are all visible to all rows skips masking.
#pragma once

#include <climits>
#include <cmath>
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/attention_key_walker.cuh"
#include "kernels/attention_mma.cuh"
#include "kernels/paged_attention.h"

namespace tspserve::kernels::attention {

constexpr int kTileRows = 64;   // most query rows per CTA (16 per warp)
constexpr int kTileKeys = 64;   // keys per K/V tile
constexpr int kThreads = 128;
// The warp that walks the pages: the last one, which computes only when the CTA has more than
// 48 rows, so that in decode its walk overlaps warp 0's compute.
constexpr int kWalkerWarp = kThreads / 32 - 1;

// How the launcher laid out the grid (host-computed, identical for every CTA).
struct TileGrid {
  int32_t kv_first = 0;    // decode: first K/V head this call touches
  int32_t row_tiles = 1;   // decode: CTAs along the (token, head) pairs of one K/V head
  int32_t num_splits = 1;  // decode split: key chunks per sequence
  int64_t chunk_keys = 0;  // decode split: keys per chunk of the longest sequence (each sequence
                           // splits its own keys: SequenceChunkKeys)
  float* partial_out = nullptr;  // split: [num_splits, num_tokens, num_q_heads, head_dim]
  float* partial_lse = nullptr;  // split: [num_splits, num_tokens, num_q_heads]
};

// bf16 elements per shared-memory row of Q, K or V: 16 bytes of padding so that ldmatrix's eight
// rows hit distinct banks for every head_dim.
template <int kDim>
constexpr int kRowStride = kDim + 8;

// Shared memory of one CTA with kRows query rows (16 or 64) and kStages K/V tiles in flight.
// Key lists: one per stage, plus the one the slowest warp may still be masking with.
template <int kDim, int kRows, int kStages>
struct TileShared {
  static constexpr int kHeadDim = kDim;
  static constexpr int kNumRows = kRows;
  static constexpr int kNumStages = kStages;
  static constexpr int kStride = kRowStride<kDim>;
  static constexpr int kLists = kStages + 1;
  __nv_bfloat16 q[kRows * kStride];
  __nv_bfloat16 k[kStages][kTileKeys * kStride];
  __nv_bfloat16 v[kStages][kTileKeys * kStride];
  int32_t key_slot[kLists][kTileKeys];      // -1: padding (zero-filled K/V)
  int32_t key_position[kLists][kTileKeys];  // INT_MAX for padding: never visible
  int32_t tile_count[kLists];               // keys in the list; 0 ends the loop
  int32_t tile_unmasked[kLists];            // 1: every key visible to every row
  int32_t row_position[kRows];              // INT_MIN for rows past the CTA's rows
  int32_t row_token[kRows];
  int32_t row_head[kRows];                  // local query head
};

// The rows of one CTA: which sequence, K/V head, which query rows, which key chunk.
struct TileRows {
  int32_t seq;
  int32_t kv_head;
  int32_t num_rows;  // valid rows, 1..64
  // Prefill: row i is token first_token + i of head `head`. Decode: row i is pair first_pair + i
  // of (token, head) = (query_begin + pair / num_heads, head_begin + pair % num_heads).
  int32_t first_token;
  int32_t head;
  int32_t query_begin;
  int32_t first_pair;
  int32_t head_begin;
  int32_t num_heads;
  int32_t split;

  __device__ void Row(bool pairs, int32_t i, int32_t& token, int32_t& local_head) const {
    if (pairs) {
      const int32_t pair = first_pair + i;
      token = query_begin + pair / num_heads;
      local_head = head_begin + pair % num_heads;
    } else {
      token = first_token + i;
      local_head = head;
    }
  }
};

// Fills `rows` for this CTA; false when the CTA has no rows (a short sequence).
template <bool kPairs, int kRows>
__device__ bool MakeTileRows(const PagedAttentionParams& p, const TileGrid& grid,
                             TileRows& rows) {
  rows.seq = static_cast<int32_t>(blockIdx.z);
  const int32_t query_begin = p.query_start[rows.seq];
  const int32_t query_end = p.query_start[rows.seq + 1];
  rows.query_begin = query_begin;
  if constexpr (kPairs) {
    rows.kv_head = grid.kv_first + static_cast<int32_t>(blockIdx.y) / grid.row_tiles;
    const int32_t row_tile = static_cast<int32_t>(blockIdx.y) % grid.row_tiles;
    const int32_t kv_begin = rows.kv_head * p.group_size - p.q_head_offset;
    rows.head_begin = max(kv_begin, 0);
    rows.num_heads = min(kv_begin + p.group_size, p.num_q_heads) - rows.head_begin;
    rows.first_pair = row_tile * kRows;
    rows.num_rows = min(kRows, (query_end - query_begin) * rows.num_heads - rows.first_pair);
    rows.split = static_cast<int32_t>(blockIdx.x);
    rows.first_token = 0;
    rows.head = 0;
  } else {
    rows.head = static_cast<int32_t>(blockIdx.x);
    rows.kv_head = (p.q_head_offset + rows.head) / p.group_size;
    // Later tiles tend to see more keys: start them first.
    const int32_t tile = static_cast<int32_t>(gridDim.y - 1 - blockIdx.y);
    rows.first_token = query_begin + tile * kRows;
    rows.num_rows = min(kRows, query_end - rows.first_token);
    rows.split = 0;
    rows.first_pair = 0;
    rows.head_begin = 0;
    rows.num_heads = 1;
  }
  return rows.num_rows > 0;
}

// Whether a key at `key` is visible to a query at `query`.
__device__ __forceinline__ bool Visible(int32_t key, int32_t query, int32_t window) {
  return key <= query &&
         (window <= 0 || static_cast<uint32_t>(query) - static_cast<uint32_t>(key) <
                             static_cast<uint32_t>(window));
}

// Row metadata and the Q tile (cp.async, one commit group). Invalid rows are zero.
template <bool kPairs, class Sm>
__device__ void LoadQueries(const PagedAttentionParams& p, const TileRows& rows, Sm& sm) {
  constexpr int kDim = Sm::kHeadDim;
  constexpr int kChunks = kDim / 8;  // 16-byte chunks per row
  const int tid = static_cast<int>(threadIdx.x);
  if (tid < Sm::kNumRows) {
    const bool valid = tid < rows.num_rows;
    int32_t token = 0, head = 0;
    rows.Row(kPairs, tid, token, head);
    sm.row_token[tid] = valid ? token : -1;
    sm.row_head[tid] = head;
    sm.row_position[tid] = valid ? p.query_positions[token] : INT_MIN;
  }
  const auto* q = static_cast<const __nv_bfloat16*>(p.q);
  for (int idx = tid; idx < Sm::kNumRows * kChunks; idx += kThreads) {
    const int i = idx / kChunks;
    const int c = idx % kChunks;
    int32_t token = 0, head = 0;
    rows.Row(kPairs, i, token, head);
    const bool valid = i < rows.num_rows;
    const __nv_bfloat16* src =
        valid ? q + int64_t{token} * p.q_row_stride + int64_t{head} * kDim + c * 8 : q;
    CpAsync16(SharedAddress(sm.q + i * Sm::kStride + c * 8), src, valid);
  }
  CpAsyncCommit();
}

// The walker warp: the next key list into buffer `buffer`. `remaining` is this CTA's key budget.
template <class Sm>
__device__ void FillKeyList(KeyWalker& walker, int64_t& remaining, int32_t query_min,
                            int32_t query_max, int32_t window, int buffer, Sm& sm) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  int32_t key_min = INT_MAX, key_max = INT_MIN;
  const int64_t need = remaining < kTileKeys ? remaining : kTileKeys;
  const int32_t n = static_cast<int32_t>(walker.Take<true>(
      need, sm.key_slot[buffer], sm.key_position[buffer], key_min, key_max));
  remaining -= n;
  for (int e = n + lane; e < kTileKeys; e += 32) {
    sm.key_slot[buffer][e] = -1;
    sm.key_position[buffer][e] = INT_MAX;
  }
#pragma unroll
  for (int d = 16; d >= 1; d >>= 1) {
    key_min = min(key_min, __shfl_xor_sync(kFullMask, key_min, d));
    key_max = max(key_max, __shfl_xor_sync(kFullMask, key_max, d));
  }
  if (lane == 0) {
    sm.tile_count[buffer] = n;
    sm.tile_unmasked[buffer] =
        n == kTileKeys && key_max <= query_min &&
        (window <= 0 || int64_t{key_min} > int64_t{query_max} - window);
  }
}

// All threads: cp.async of the K and V rows listed in `buffer` into stage `stage`.
template <class Sm>
__device__ void LoadKeyTile(const PagedAttentionParams& p, int32_t kv_head, int buffer,
                            int stage, Sm& sm) {
  constexpr int kDim = Sm::kHeadDim;
  constexpr int kChunks = kDim / 8;
  const auto* k = static_cast<const __nv_bfloat16*>(p.k_cache);
  const auto* v = static_cast<const __nv_bfloat16*>(p.v_cache);
  for (int idx = static_cast<int>(threadIdx.x); idx < kTileKeys * kChunks; idx += kThreads) {
    const int r = idx / kChunks;
    const int c = idx % kChunks;
    const int32_t slot = sm.key_slot[buffer][r];
    const bool valid = slot >= 0;
    const int64_t offset =
        valid ? int64_t{slot} * p.kv_slot_stride + int64_t{kv_head} * kDim + c * 8 : 0;
    const int dst = r * Sm::kStride + c * 8;
    CpAsync16(SharedAddress(sm.k[stage] + dst), k + offset, valid);
    CpAsync16(SharedAddress(sm.v[stage] + dst), v + offset, valid);
  }
}

// One warp's running state over its 16 query rows: lane (g, t) = (lane / 4, lane % 4) holds rows
// g and g + 8, output columns 8n + 2t and 8n + 2t + 1 of every 8-wide column tile n.
template <int kDim>
struct WarpState {
  uint32_t q[kDim / 16][4];  // A fragments of the warp's 16 query rows
  float o[kDim / 8][4];      // unnormalized output accumulators
  float m[2];                // running max of the scaled scores, log2 units
  float l[2];                // this lane's share of the running sum of exp2(score - m)
  int32_t position[2];       // query positions of rows g and g + 8
};

// S = Q K^T for one 64-key tile: s[n] holds keys 8n + 2t, 8n + 2t + 1 of rows g, g + 8.
template <int kDim>
__device__ __forceinline__ void TileScores(const WarpState<kDim>& w, const __nv_bfloat16* ks,
                                           float (&s)[kTileKeys / 8][4]) {
  const int lane = static_cast<int>(threadIdx.x & 31);
#pragma unroll
  for (int n = 0; n < kTileKeys / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) s[n][i] = 0.0f;
  }
  const int key_in = (lane & 7) + ((lane >> 4) << 3);
  const int dim_in = ((lane >> 3) & 1) << 3;
#pragma unroll
  for (int kk = 0; kk < kDim / 16; ++kk) {
#pragma unroll
    for (int n2 = 0; n2 < kTileKeys / 16; ++n2) {
      uint32_t b[4];
      LdMatrixX4(b, SharedAddress(ks + (n2 * 16 + key_in) * kRowStride<kDim> +
                                  kk * 16 + dim_in));
      MmaBf16(s[2 * n2], w.q[kk], b[0], b[1]);
      MmaBf16(s[2 * n2 + 1], w.q[kk], b[2], b[3]);
    }
  }
}

// Scales the scores to log2 units and masks invisible keys to -inf.
template <int kDim>
__device__ __forceinline__ void ScaleAndMask(const WarpState<kDim>& w, const int32_t* key_pos,
                                             bool unmasked, float scale_log2, int32_t window,
                                             float (&s)[kTileKeys / 8][4]) {
  const int t = static_cast<int>(threadIdx.x & 3);
#pragma unroll
  for (int n = 0; n < kTileKeys / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) s[n][i] *= scale_log2;
  }
  if (unmasked) return;
#pragma unroll
  for (int n = 0; n < kTileKeys / 8; ++n) {
    const int2 kp = *reinterpret_cast<const int2*>(key_pos + n * 8 + 2 * t);
    if (!Visible(kp.x, w.position[0], window)) s[n][0] = -INFINITY;
    if (!Visible(kp.y, w.position[0], window)) s[n][1] = -INFINITY;
    if (!Visible(kp.x, w.position[1], window)) s[n][2] = -INFINITY;
    if (!Visible(kp.y, w.position[1], window)) s[n][3] = -INFINITY;
  }
}

// Online softmax: turns s into probabilities relative to the new running max and rescales o, l.
template <int kDim>
__device__ __forceinline__ void OnlineSoftmax(WarpState<kDim>& w, float (&s)[kTileKeys / 8][4]) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mx = -INFINITY;
#pragma unroll
    for (int n = 0; n < kTileKeys / 8; ++n) mx = fmaxf(mx, fmaxf(s[n][2 * r], s[n][2 * r + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(kFullMask, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(kFullMask, mx, 2));
    const float m_new = fmaxf(w.m[r], mx);
    const float base = m_new == -INFINITY ? 0.0f : m_new;
    const float alpha = Exp2(w.m[r] - base);
    w.m[r] = m_new;
    float sum = 0.0f;
#pragma unroll
    for (int n = 0; n < kTileKeys / 8; ++n) {
      s[n][2 * r] = Exp2(s[n][2 * r] - base);
      s[n][2 * r + 1] = Exp2(s[n][2 * r + 1] - base);
      sum += s[n][2 * r] + s[n][2 * r + 1];
    }
    w.l[r] = w.l[r] * alpha + sum;
#pragma unroll
    for (int n = 0; n < kDim / 8; ++n) {
      w.o[n][2 * r] *= alpha;
      w.o[n][2 * r + 1] *= alpha;
    }
  }
}

// O += P V for one tile, P taken from the score registers as bf16 A fragments.
template <int kDim>
__device__ __forceinline__ void AccumulateValues(WarpState<kDim>& w, const __nv_bfloat16* vs,
                                                 const float (&s)[kTileKeys / 8][4]) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  const int key_in = (lane & 7) + (((lane >> 3) & 1) << 3);
  const int dim_in = (lane >> 4) << 3;
#pragma unroll
  for (int kk = 0; kk < kTileKeys / 16; ++kk) {
    const uint32_t a[4] = {PackBf16(s[2 * kk][0], s[2 * kk][1]),
                           PackBf16(s[2 * kk][2], s[2 * kk][3]),
                           PackBf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                           PackBf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
    for (int d2 = 0; d2 < kDim / 16; ++d2) {
      uint32_t b[4];
      LdMatrixX4Trans(b, SharedAddress(vs + (kk * 16 + key_in) * kRowStride<kDim> +
                                       d2 * 16 + dim_in));
      MmaBf16(w.o[2 * d2], a, b[0], b[1]);
      MmaBf16(w.o[2 * d2 + 1], a, b[2], b[3]);
    }
  }
}

template <class Sm, int kDim = Sm::kHeadDim>
__device__ void InitWarpState(const Sm& sm, WarpState<kDim>& w) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  const int warp_row = static_cast<int>(threadIdx.x >> 5) * 16;
  const int row_in = (lane & 7) + (((lane >> 3) & 1) << 3);
  const int col_in = (lane >> 4) << 3;
#pragma unroll
  for (int kk = 0; kk < kDim / 16; ++kk) {
    LdMatrixX4(w.q[kk], SharedAddress(sm.q + (warp_row + row_in) * kRowStride<kDim> +
                                      kk * 16 + col_in));
  }
#pragma unroll
  for (int n = 0; n < kDim / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) w.o[n][i] = 0.0f;
  }
  const int g = lane >> 2;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    w.m[r] = -INFINITY;
    w.l[r] = 0.0f;
    w.position[r] = sm.row_position[warp_row + g + 8 * r];
  }
}

// Writes the warp's rows: bf16 out and lse, or (kSplit) the fp32 partials.
template <bool kSplit, class Sm, int kDim = Sm::kHeadDim>
__device__ void StoreRows(const PagedAttentionParams& p, const TileGrid& grid,
                          const TileRows& rows, const Sm& sm, WarpState<kDim>& w) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  const int g = lane >> 2;
  const int t = lane & 3;
  const int warp_row = static_cast<int>(threadIdx.x >> 5) * 16;
  constexpr float kLn2 = 0.6931471805599453f;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = w.l[r];
    l += __shfl_xor_sync(kFullMask, l, 1);
    l += __shfl_xor_sync(kFullMask, l, 2);
    const int row = warp_row + g + 8 * r;
    if (row >= rows.num_rows) continue;
    const int64_t token = sm.row_token[row];
    const int64_t head = sm.row_head[row];
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    const float lse = l > 0.0f ? (w.m[r] + log2f(l)) * kLn2 : -INFINITY;
    if constexpr (kSplit) {
      const int64_t index = (int64_t{rows.split} * p.num_tokens + token) * p.num_q_heads + head;
      float* dst = grid.partial_out + index * kDim;
#pragma unroll
      for (int n = 0; n < kDim / 8; ++n) {
        *reinterpret_cast<float2*>(dst + n * 8 + 2 * t) =
            make_float2(w.o[n][2 * r] * inv, w.o[n][2 * r + 1] * inv);
      }
      if (t == 0) grid.partial_lse[index] = lse;
    } else {
      auto* dst = static_cast<__nv_bfloat16*>(p.out) + token * p.out_row_stride + head * kDim;
#pragma unroll
      for (int n = 0; n < kDim / 8; ++n) {
        *reinterpret_cast<__nv_bfloat162*>(dst + n * 8 + 2 * t) =
            __floats2bfloat162_rn(w.o[n][2 * r] * inv, w.o[n][2 * r + 1] * inv);
      }
      if (t == 0 && p.lse != nullptr) p.lse[token * p.num_q_heads + head] = lse;
    }
  }
}

// Keys per split for sequence `seq` (the walker warp, all lanes): its cached keys (clipped to a
// sliding window, as the plan clips the longest sequence's) over the grid's splits, rounded up to
// whole tiles; the last split takes the rest. Splitting each sequence's own keys, not the longest
// sequence's, keeps every split of a short sequence busy, and a recorded decode step, whose grid
// is sized for a bucketed key count, still splits the keys it has evenly.
__device__ __forceinline__ int64_t SequenceChunkKeys(const PagedAttentionParams& p, int32_t seq,
                                                     int32_t num_splits, int32_t query_span) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  int64_t keys = 0;
  for (int32_t i = p.page_start[seq] + lane; i < p.page_start[seq + 1]; i += 32) {
    keys += p.page_num_tokens[i];
  }
#pragma unroll
  for (int d = 16; d >= 1; d >>= 1) keys += __shfl_xor_sync(kFullMask, keys, d);
  if (p.sliding_window > 0) keys = min(keys, int64_t{p.sliding_window} + query_span);
  const int64_t per_split = (keys + num_splits - 1) / num_splits;
  return (per_split + kTileKeys - 1) / kTileKeys * kTileKeys;
}

// The walker warp: the range of query positions of the CTA's rows, and the walker over the keys
// they may see, advanced to this CTA's chunk (kSplit) with `remaining` set to the chunk's size.
template <bool kSplit, class Sm>
__device__ void StartKeys(const PagedAttentionParams& p, const TileGrid& grid,
                          const TileRows& rows, Sm& sm, KeyWalker& walker,
                          int64_t& remaining, int32_t& query_min, int32_t& query_max) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  query_min = INT_MAX;
  query_max = INT_MIN;
  for (int i = lane; i < rows.num_rows; i += 32) {
    query_min = min(query_min, sm.row_position[i]);
    query_max = max(query_max, sm.row_position[i]);
  }
#pragma unroll
  for (int d = 16; d >= 1; d >>= 1) {
    query_min = min(query_min, __shfl_xor_sync(kFullMask, query_min, d));
    query_max = max(query_max, __shfl_xor_sync(kFullMask, query_max, d));
  }
  const int64_t lo =
      p.sliding_window > 0 ? int64_t{query_min} - p.sliding_window + 1 : int64_t{INT_MIN};
  walker.Init(p.page_first_slot, p.page_first_position, p.page_num_tokens,
              p.page_start[rows.seq], p.page_start[rows.seq + 1], lo, query_max);
  remaining = INT64_MAX;
  if constexpr (kSplit) {
    const int64_t chunk = SequenceChunkKeys(p, rows.seq, grid.num_splits, query_max - query_min);
    int32_t unused_min = 0, unused_max = 0;
    walker.Take<false>(int64_t{rows.split} * chunk, nullptr, nullptr, unused_min, unused_max);
    if (rows.split + 1 < grid.num_splits) remaining = chunk;
  }
}

// The walker warp fills key lists 0 .. kStages-2; then every thread starts their K/V loads, one
// commit group per stage (empty groups keep the count uniform).
template <class Sm>
__device__ void StartPipeline(const PagedAttentionParams& p, int32_t kv_head, KeyWalker& walker,
                              int64_t& remaining, int32_t query_min, int32_t query_max,
                              Sm& sm) {
  if (threadIdx.x / 32 == kWalkerWarp) {
#pragma unroll 1
    for (int i = 0; i + 1 < Sm::kNumStages; ++i) {
      FillKeyList(walker, remaining, query_min, query_max, p.sliding_window, i, sm);
    }
  }
  __syncthreads();
#pragma unroll 1
  for (int i = 0; i + 1 < Sm::kNumStages; ++i) {
    if (sm.tile_count[i] > 0) LoadKeyTile(p, kv_head, i, i, sm);
    CpAsyncCommit();
  }
}

// One CTA: kRows query rows against the keys they see (or one chunk of them, kSplit), with
// kStages K/V tiles in flight. At step j, the walker warp lists tile j + kStages - 1 while the
// other warps may still mask tile j - 1, all threads start its loads, then every warp computes
// tile j.
template <int kDim, bool kPairs, bool kSplit, int kRows, int kStages>
__global__ void __launch_bounds__(kThreads, 2)
    PagedAttentionTileKernel(const PagedAttentionParams p, const TileGrid grid) {
  using Sm = TileShared<kDim, kRows, kStages>;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  auto& sm = *reinterpret_cast<Sm*>(shared_bytes);
  TileRows rows;
  if (!MakeTileRows<kPairs, kRows>(p, grid, rows)) return;
  LoadQueries<kPairs>(p, rows, sm);
  __syncthreads();  // row metadata

  const int warp = static_cast<int>(threadIdx.x >> 5);
  KeyWalker walker;
  int64_t remaining = 0;
  int32_t query_min = 0, query_max = 0;
  if (warp == kWalkerWarp) {
    StartKeys<kSplit>(p, grid, rows, sm, walker, remaining, query_min, query_max);
  }
  StartPipeline(p, rows.kv_head, walker, remaining, query_min, query_max, sm);
  CpAsyncWait<kStages - 1>();  // the Q tile
  __syncthreads();

  const bool warp_active = warp * 16 < rows.num_rows;
  WarpState<kDim> w;
  if (warp_active) InitWarpState(sm, w);
  const float scale_log2 = p.scale * 1.4426950408889634f;
  int list = 0;                    // list (and stage) of tile j
  int fill_list = kStages - 1;     // list of tile j + kStages - 1
  int stage = 0;
  int fill_stage = kStages - 1;
  for (;;) {
    if (sm.tile_count[list] == 0) break;
    if (warp == kWalkerWarp) {
      FillKeyList(walker, remaining, query_min, query_max, p.sliding_window, fill_list, sm);
    }
    __syncthreads();  // the new list is written; every warp is done with tile j-1's stage
    if (sm.tile_count[fill_list] > 0) LoadKeyTile(p, rows.kv_head, fill_list, fill_stage, sm);
    CpAsyncCommit();
    CpAsyncWait<kStages - 1>();  // tile j
    __syncthreads();
    if (warp_active) {
      float s[kTileKeys / 8][4];
      TileScores<kDim>(w, sm.k[stage], s);
      ScaleAndMask<kDim>(w, sm.key_position[list], sm.tile_unmasked[list] != 0, scale_log2,
                         p.sliding_window, s);
      OnlineSoftmax<kDim>(w, s);
      AccumulateValues<kDim>(w, sm.v[stage], s);
    }
    list = list + 1 == Sm::kLists ? 0 : list + 1;
    fill_list = fill_list + 1 == Sm::kLists ? 0 : fill_list + 1;
    stage = stage + 1 == kStages ? 0 : stage + 1;
    fill_stage = fill_stage + 1 == kStages ? 0 : fill_stage + 1;
  }
  if (warp_active) StoreRows<kSplit>(p, grid, rows, sm, w);
}

}  // namespace tspserve::kernels::attention
