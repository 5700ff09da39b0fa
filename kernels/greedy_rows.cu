#include "kernels/greedy_rows.h"

#include <cfloat>

namespace tspserve::kernels {
namespace {

constexpr int kThreads = 512;

// A running (max, first index of max, sum of exp(x - max)) over some values.
struct Partial {
  float max;
  int64_t index;
  float sum;
};

__device__ __forceinline__ Partial Merge(Partial a, Partial b) {
  if (b.max == -INFINITY) return a;
  if (a.max == -INFINITY) return b;
  const float m = fmaxf(a.max, b.max);
  Partial out;
  out.max = m;
  out.index = a.max > b.max ? a.index : b.max > a.max ? b.index : min(a.index, b.index);
  out.sum = a.sum * __expf(a.max - m) + b.sum * __expf(b.max - m);
  return out;
}

__global__ void GreedyRowsKernel(GreedyRowsArgs args) {
  const float* row = args.logits + static_cast<int64_t>(blockIdx.x) * args.row_stride;
  Partial p{-INFINITY, -1, 0.0f};
  for (int64_t c = threadIdx.x; c < args.valid_cols; c += kThreads) {
    p = Merge(p, Partial{row[c], c, 1.0f});
  }
  __shared__ Partial shared[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) {
    Partial other;
    other.max = __shfl_down_sync(0xffffffff, p.max, offset);
    other.index = __shfl_down_sync(0xffffffff, p.index, offset);
    other.sum = __shfl_down_sync(0xffffffff, p.sum, offset);
    p = Merge(p, other);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared[warp] = p;
  __syncthreads();
  if (warp != 0) return;
  p = lane < kThreads / 32 ? shared[lane] : Partial{-INFINITY, -1, 0.0f};
  for (int offset = 16; offset > 0; offset /= 2) {
    Partial other;
    other.max = __shfl_down_sync(0xffffffff, p.max, offset);
    other.index = __shfl_down_sync(0xffffffff, p.index, offset);
    other.sum = __shfl_down_sync(0xffffffff, p.sum, offset);
    p = Merge(p, other);
  }
  if (lane == 0) {
    float* out = args.out + 3 * static_cast<int64_t>(blockIdx.x);
    out[0] = p.max;
    out[1] = p.index < 0 ? -1.0f : static_cast<float>(args.id_offset + p.index);
    out[2] = p.max == -INFINITY ? -INFINITY : p.max + logf(p.sum);
  }
}

}  // namespace

cudaError_t LaunchGreedyRows(const GreedyRowsArgs& args, cudaStream_t stream) {
  if (args.rows < 0 || args.valid_cols < 0 || args.rows > 2147483647) return cudaErrorInvalidValue;
  if (args.rows == 0) return cudaSuccess;
  if (args.out == nullptr || (args.valid_cols > 0 && args.logits == nullptr)) return cudaErrorInvalidValue;
  GreedyRowsKernel<<<static_cast<unsigned>(args.rows), kThreads, 0, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
