#include "kernels/rope.h"

#include "kernels/launch_utils.cuh"

namespace tspserve::kernels {
namespace {

// One thread per V consecutive pairs (i, i + D/2) of one head of one row.
template <int V>
__global__ void RopeKernel(RopeArgs args) {
  const int64_t half = args.head_dim / 2;
  const int64_t vectors_per_head = half / V;
  const int64_t vectors_per_row = (args.width / args.head_dim) * vectors_per_head;
  const int64_t total = args.num_tokens * vectors_per_row;
  for (int64_t j = GlobalThreadIndex(); j < total; j += GlobalThreadCount()) {
    const int64_t t = j / vectors_per_row;
    const int64_t k = j - t * vectors_per_row;
    const int64_t head = k / vectors_per_head;
    const int64_t i = (k - head * vectors_per_head) * V;
    const int32_t pos = args.positions[t];
    if (pos < 0 || pos >= args.max_positions) continue;
    const float* row = args.cos_sin + pos * args.table_row_stride;
    __nv_bfloat16* lo = args.x + t * args.x_row_stride + head * args.head_dim + i;
    __nv_bfloat16* hi = lo + half;
    float x1[V], x2[V], c[V], s[V];
    LoadBf16<V>(lo, x1);
    LoadBf16<V>(hi, x2);
    LoadF32<V>(row + i, c);
    LoadF32<V>(row + half + i, s);
    float o1[V], o2[V];
#pragma unroll
    for (int e = 0; e < V; ++e) {
      o1[e] = x1[e] * c[e] - x2[e] * s[e];
      o2[e] = x2[e] * c[e] + x1[e] * s[e];
    }
    StoreBf16<V>(lo, o1);
    StoreBf16<V>(hi, o2);
  }
}

}  // namespace

cudaError_t LaunchRope(const RopeArgs& args, cudaStream_t stream) {
  if (args.num_tokens < 0 || args.width < 0 || args.head_dim <= 0 || args.head_dim % 2 != 0 ||
      args.width % args.head_dim != 0) {
    return cudaErrorInvalidValue;
  }
  if (args.num_tokens == 0 || args.width == 0) return cudaSuccess;
  if (args.x == nullptr || args.positions == nullptr || args.cos_sin == nullptr) {
    return cudaErrorInvalidValue;
  }
  const int64_t half = args.head_dim / 2;
  // Vectors need 16-byte bf16 loads at head offsets and at +half, and 16-byte float loads of the
  // table row at i and half + i.
  const bool vectorize =
      CanVectorizeBf16({args.x}, {half, args.num_tokens > 1 ? args.x_row_stride : 0}) &&
      AddressBits(args.cos_sin) % 16 == 0 &&
      (args.max_positions > 1 ? args.table_row_stride : 0) % 4 == 0;
  const int64_t pairs = args.num_tokens * (args.width / 2);
  if (vectorize) {
    RopeKernel<kBf16Vector><<<GridSize(pairs / kBf16Vector), kThreadsPerBlock, 0, stream>>>(args);
  } else {
    RopeKernel<1><<<GridSize(pairs), kThreadsPerBlock, 0, stream>>>(args);
  }
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
