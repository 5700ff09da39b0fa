// LaunchPagedAttention: picks the prefill (one CTA per 64 query rows of one head) or the
// split-KV decode path (one CTA per sequence, K/V head and key chunk, then a combine) from the
// host fields, and launches the tile kernel of kernels/attention_tile_kernel.cuh.
#include "kernels/paged_attention.h"

#include <algorithm>
#include <cstdint>

#include "kernels/attention_split_combine.cuh"
#include "kernels/attention_tile_kernel.cuh"

namespace tspserve::kernels {
namespace {

using attention::TileGrid;

// Sequences with at most this many query rows take the split-KV decode path.
constexpr int32_t kDecodeMaxQueryLen = 16;
// A decode chunk holds at least this many keys (fewer splits rather than tiny chunks).
constexpr int64_t kMinChunkKeys = 256;
// Decode aims at this many CTAs per multiprocessor (2 resident, about two waves).
constexpr int64_t kDecodeCtasPerSm = 4;
// Decode CTAs with at most this many (token, head) rows use a 16-row Q tile, which leaves room
// for a third K/V stage in flight (decode is bound by HBM bandwidth, not by the tensor cores).
constexpr int kSmallRows = 16;
constexpr int kSmallRowStages = 3;
constexpr int kMaxGridYZ = 65535;

// The launch shape, a function of the host fields (and the device's SM count) only.
struct Plan {
  bool decode = false;
  int32_t kv_first = 0;
  int32_t num_kv = 0;      // decode: K/V heads this call's query heads read
  bool small_rows = false;  // decode: 16-row tiles (else 64)
  int32_t row_tiles = 1;   // decode: row tiles of (token, head) pairs per K/V head
  int32_t num_splits = 1;  // decode: key chunks per sequence (1: no workspace, no combine)
  int64_t chunk_keys = 0;
};

int32_t MultiprocessorCount() {
  int device = 0;
  int count = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
      count <= 0) {
    return 132;
  }
  return count;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

Plan MakePlan(const PagedAttentionParams& p) {
  Plan plan;
  plan.decode = p.max_query_len <= kDecodeMaxQueryLen;
  if (!plan.decode || p.num_q_heads <= 0 || p.group_size <= 0) return plan;
  plan.kv_first = p.q_head_offset / p.group_size;
  plan.num_kv = (p.q_head_offset + p.num_q_heads - 1) / p.group_size - plan.kv_first + 1;
  const int64_t heads_per_kv = std::min(p.group_size, p.num_q_heads);
  const int64_t rows = std::max<int64_t>(1, p.max_query_len * heads_per_kv);
  plan.small_rows = rows <= kSmallRows;
  plan.row_tiles = static_cast<int32_t>(CeilDiv(rows, attention::kTileRows));
  int64_t keys = p.max_keys;
  if (p.sliding_window > 0) {
    keys = std::min<int64_t>(keys, int64_t{p.sliding_window} + p.max_query_len - 1);
  }
  const int64_t ctas = int64_t{p.num_seqs} * plan.num_kv * plan.row_tiles;
  const int64_t target = kDecodeCtasPerSm * MultiprocessorCount();
  if (keys <= 0 || ctas <= 0 || ctas >= target) return plan;
  const int64_t splits =
      std::min(CeilDiv(target, ctas), std::max<int64_t>(1, CeilDiv(keys, kMinChunkKeys)));
  if (splits <= 1) return plan;
  plan.chunk_keys = CeilDiv(CeilDiv(keys, splits), attention::kTileKeys) * attention::kTileKeys;
  plan.num_splits = static_cast<int32_t>(CeilDiv(keys, plan.chunk_keys));
  return plan;
}

// Split partials: out [splits, T, Hq, D] then lse [splits, T, Hq], fp32.
int64_t PartialOutFloats(const PagedAttentionParams& p, const Plan& plan) {
  return int64_t{plan.num_splits} * p.num_tokens * p.num_q_heads * p.head_dim;
}

size_t WorkspaceBytes(const PagedAttentionParams& p, const Plan& plan) {
  if (!plan.decode || plan.num_splits <= 1) return 0;
  const int64_t lse_floats = int64_t{plan.num_splits} * p.num_tokens * p.num_q_heads;
  return static_cast<size_t>(PartialOutFloats(p, plan) + lse_floats) * sizeof(float);
}

bool Aligned(const void* ptr, uintptr_t bytes) {
  return reinterpret_cast<uintptr_t>(ptr) % bytes == 0;
}

// cp.async moves 16-byte chunks of Q and K/V rows; out takes bf16 pairs.
bool ValidLayout(const PagedAttentionParams& p) {
  return p.q != nullptr && p.k_cache != nullptr && p.v_cache != nullptr && p.out != nullptr &&
         Aligned(p.q, 16) && Aligned(p.k_cache, 16) && Aligned(p.v_cache, 16) &&
         Aligned(p.out, 4) && p.q_row_stride % 8 == 0 && p.kv_slot_stride % 8 == 0 &&
         p.out_row_stride % 2 == 0 && p.group_size > 0 && p.q_head_offset >= 0 &&
         p.num_kv_heads > 0 && p.num_seqs <= kMaxGridYZ &&
         (p.q_head_offset + p.num_q_heads - 1) / p.group_size < p.num_kv_heads;
}

template <int kDim, bool kPairs, bool kSplit, int kRows = attention::kTileRows, int kStages = 2>
cudaError_t LaunchTiles(const PagedAttentionParams& p, const TileGrid& grid, dim3 blocks,
                        cudaStream_t stream) {
  auto kernel = attention::PagedAttentionTileKernel<kDim, kPairs, kSplit, kRows, kStages>;
  constexpr int kSharedBytes = sizeof(attention::TileShared<kDim, kRows, kStages>);
  // Per device and cheap: set on every launch rather than once per process.
  cudaError_t err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes);
  if (err != cudaSuccess) return err;
  kernel<<<blocks, attention::kThreads, kSharedBytes, stream>>>(p, grid);
  return cudaGetLastError();
}

template <int kDim>
cudaError_t LaunchPrefill(const PagedAttentionParams& p, cudaStream_t stream) {
  const int64_t row_tiles = CeilDiv(p.max_query_len, attention::kTileRows);
  if (row_tiles > kMaxGridYZ) return cudaErrorInvalidValue;
  const dim3 blocks(static_cast<unsigned>(p.num_q_heads), static_cast<unsigned>(row_tiles),
                    static_cast<unsigned>(p.num_seqs));
  return LaunchTiles<kDim, false, false>(p, TileGrid{}, blocks, stream);
}

template <int kDim>
cudaError_t LaunchDecode(const PagedAttentionParams& p, const Plan& plan, cudaStream_t stream) {
  const int64_t grid_y = int64_t{plan.num_kv} * plan.row_tiles;
  if (grid_y > kMaxGridYZ) return cudaErrorInvalidValue;
  TileGrid grid;
  grid.kv_first = plan.kv_first;
  grid.row_tiles = plan.row_tiles;
  grid.num_splits = plan.num_splits;
  grid.chunk_keys = plan.chunk_keys;
  const dim3 blocks(static_cast<unsigned>(plan.num_splits), static_cast<unsigned>(grid_y),
                    static_cast<unsigned>(p.num_seqs));
  if (plan.num_splits == 1) {
    return plan.small_rows
               ? LaunchTiles<kDim, true, false, kSmallRows, kSmallRowStages>(p, grid, blocks,
                                                                              stream)
               : LaunchTiles<kDim, true, false>(p, grid, blocks, stream);
  }
  if (p.workspace == nullptr || p.workspace_bytes < WorkspaceBytes(p, plan) ||
      !Aligned(p.workspace, 16)) {
    return cudaErrorInvalidValue;
  }
  grid.partial_out = static_cast<float*>(p.workspace);
  grid.partial_lse = grid.partial_out + PartialOutFloats(p, plan);
  cudaError_t err =
      plan.small_rows
          ? LaunchTiles<kDim, true, true, kSmallRows, kSmallRowStages>(p, grid, blocks, stream)
          : LaunchTiles<kDim, true, true>(p, grid, blocks, stream);
  if (err != cudaSuccess) return err;
  const int64_t combine_x =
      CeilDiv(int64_t{p.max_query_len} * p.num_q_heads, attention::kCombineWarps);
  attention::CombineSplitsKernel<kDim>
      <<<dim3(static_cast<unsigned>(combine_x), static_cast<unsigned>(p.num_seqs)),
         attention::kCombineWarps * 32, 0, stream>>>(p, plan.num_splits, grid.partial_out,
                                                     grid.partial_lse);
  return cudaGetLastError();
}

template <int kDim>
cudaError_t LaunchForDim(const PagedAttentionParams& p, cudaStream_t stream) {
  const Plan plan = MakePlan(p);
  if (plan.decode) return LaunchDecode<kDim>(p, plan, stream);
  return LaunchPrefill<kDim>(p, stream);
}

}  // namespace

cudaError_t CheckPagedAttentionSupported(int32_t head_dim) {
  switch (head_dim) {
    case 16:
    case 32:
    case 64:
    case 128:
      return cudaSuccess;
    default:
      return cudaErrorInvalidValue;
  }
}

size_t PagedAttentionWorkspaceBytes(const PagedAttentionParams& params) {
  if (params.num_tokens <= 0 || params.num_q_heads <= 0 || params.num_seqs <= 0) return 0;
  return WorkspaceBytes(params, MakePlan(params));
}

cudaError_t LaunchPagedAttention(const PagedAttentionParams& params, cudaStream_t stream) {
  if (params.num_tokens <= 0 || params.num_q_heads <= 0 || params.num_seqs <= 0 ||
      params.max_query_len <= 0) {
    return cudaSuccess;
  }
  if (CheckPagedAttentionSupported(params.head_dim) != cudaSuccess || !ValidLayout(params)) {
    return cudaErrorInvalidValue;
  }
  switch (params.head_dim) {
    case 16:
      return LaunchForDim<16>(params, stream);
    case 32:
      return LaunchForDim<32>(params, stream);
    case 64:
      return LaunchForDim<64>(params, stream);
    default:
      return LaunchForDim<128>(params, stream);
  }
}

}  // namespace tspserve::kernels
