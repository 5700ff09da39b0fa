#include "kernels/attention_combine.h"

#include <cmath>

#include "kernels/launch_utils.cuh"

namespace tspserve::kernels {
namespace {

constexpr int kWarpsPerBlock = kThreadsPerBlock / 32;

// One warp per (token, head); lanes split the head's D columns in vectors of V.
template <int V>
__global__ void CombineKernel(AttentionCombineArgs args) {
  const int64_t warp = GlobalThreadIndex() / 32;
  const int64_t num_warps = GlobalThreadCount() / 32;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int64_t heads = args.num_heads;
  const int64_t width = heads * args.head_dim;
  const int64_t items = args.num_tokens * heads;
  for (int64_t item = warp; item < items; item += num_warps) {
    const int64_t t = item / heads;
    const int64_t h = item - t * heads;
    const float* lse = args.lse + t * heads + h;  // split s at lse[s * num_tokens * heads]
    const int64_t lse_split_stride = args.num_tokens * heads;
    float m = -INFINITY;
    for (int32_t s = 0; s < args.num_splits; ++s) m = fmaxf(m, lse[s * lse_split_stride]);
    float total = 0.0f;
    if (m != -INFINITY) {
      for (int32_t s = 0; s < args.num_splits; ++s) total += expf(lse[s * lse_split_stride] - m);
    }
    const float inv_total = total > 0.0f ? 1.0f / total : 0.0f;
    const __nv_bfloat16* partial = args.partials + t * width + h * args.head_dim;
    const int64_t partial_split_stride = args.num_tokens * width;
    __nv_bfloat16* out = args.out + t * args.out_row_stride + h * args.head_dim;
    for (int64_t d = int64_t{lane} * V; d < args.head_dim; d += 32 * V) {
      float acc[V] = {};
      for (int32_t s = 0; s < args.num_splits && total > 0.0f; ++s) {
        const float w = expf(lse[s * lse_split_stride] - m) * inv_total;
        float p[V];
        LoadBf16<V>(partial + s * partial_split_stride + d, p);
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] += w * p[k];
      }
      StoreBf16<V>(out + d, acc);
    }
  }
}

}  // namespace

cudaError_t LaunchAttentionCombine(const AttentionCombineArgs& args, cudaStream_t stream) {
  if (args.num_splits < 0 || args.num_tokens < 0 || args.num_heads < 0 || args.head_dim < 0) {
    return cudaErrorInvalidValue;
  }
  if (args.num_tokens == 0 || args.num_heads == 0 || args.head_dim == 0) return cudaSuccess;
  if (args.out == nullptr || (args.num_splits > 0 && (args.partials == nullptr || args.lse == nullptr))) {
    return cudaErrorInvalidValue;
  }
  const bool vectorize = CanVectorizeBf16(
      {args.partials, args.out},
      {args.head_dim, args.num_tokens > 1 ? args.out_row_stride : 0});
  const int64_t warps = args.num_tokens * args.num_heads;
  const int64_t blocks = (warps + kWarpsPerBlock - 1) / kWarpsPerBlock;
  const unsigned grid = static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
  if (vectorize) {
    CombineKernel<kBf16Vector><<<grid, kThreadsPerBlock, 0, stream>>>(args);
  } else {
    CombineKernel<1><<<grid, kThreadsPerBlock, 0, stream>>>(args);
  }
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
