#include "kernels/rms_norm.h"

#include "kernels/launch_utils.cuh"

namespace tspserve::kernels {
namespace {

// Both ops as one: residual is null for the plain norm.
struct NormParams {
  __nv_bfloat16* residual = nullptr;
  int64_t residual_row_stride = 0;
  const __nv_bfloat16* x = nullptr;
  int64_t x_row_stride = 0;
  const __nv_bfloat16* weight = nullptr;
  __nv_bfloat16* out = nullptr;
  int64_t out_row_stride = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t group = 0;
  float eps = 0.0f;
};

// Each thread keeps up to this many of its vectors in registers between the passes, so a group of
// up to kCachedVectors * threads * V values is read from memory once.
constexpr int kCachedVectors = 4;
// Groups of at most this many vectors are normalised by one warp (all held in registers); larger
// ones by one block.
constexpr int64_t kMaxWarpVectors = 32 * kCachedVectors;
constexpr int kWarpModeThreads = 128;  // 4 groups per block
constexpr int kMaxBlockThreads = 1024;

// Pass one sums squares (after adding x into the residual for kAdd); pass two rescales, from
// registers where pass one kept the values and from memory beyond that. Each thread touches the same
// elements in both passes, so out may be x: every read of an element precedes its write by the
// same thread.
template <int V, bool kAdd, bool kWarp>
__global__ void RmsNormKernel(NormParams p) {
  __shared__ float scratch[32];
  const int64_t groups_per_row = p.cols / p.group;
  const int64_t total = p.rows * groups_per_row;
  const int64_t lanes = kWarp ? 32 : blockDim.x;
  const int64_t lane = kWarp ? threadIdx.x % 32 : threadIdx.x;
  const int64_t step = lanes * V;  // columns between a thread's consecutive vectors
  const int64_t groups_per_block = kWarp ? blockDim.x / 32 : 1;
  const int64_t first = blockIdx.x * groups_per_block + (kWarp ? threadIdx.x / 32 : 0);
  // g is uniform across a warp (kWarp) or the whole block, so the reductions below are safe.
  for (int64_t g = first; g < total; g += gridDim.x * groups_per_block) {
    const int64_t r = g / groups_per_row;
    const int64_t c0 = (g - r * groups_per_row) * p.group;
    const __nv_bfloat16* x = p.x + r * p.x_row_stride + c0;
    __nv_bfloat16* residual = kAdd ? p.residual + r * p.residual_row_stride + c0 : nullptr;
    // Reads this thread's vector at column c (adding x into the residual for kAdd) into v.
    auto load = [&](int64_t c, float (&v)[V]) {
      LoadBf16<V>(x + c, v);
      if constexpr (kAdd) {
        float res[V];
        LoadBf16<V>(residual + c, res);
#pragma unroll
        for (int k = 0; k < V; ++k) v[k] += res[k];
        StoreBf16<V>(residual + c, v);
#pragma unroll
        for (int k = 0; k < V; ++k) v[k] = __bfloat162float(__float2bfloat16_rn(v[k]));
      }
    };
    float cached[kCachedVectors][V];
    float sum_sq = 0.0f;
#pragma unroll
    for (int j = 0; j < kCachedVectors; ++j) {
      const int64_t c = lane * V + j * step;
      if (c < p.group) {
        load(c, cached[j]);
#pragma unroll
        for (int k = 0; k < V; ++k) sum_sq += cached[j][k] * cached[j][k];
      }
    }
    for (int64_t c = lane * V + kCachedVectors * step; c < p.group; c += step) {
      float v[V];
      load(c, v);
#pragma unroll
      for (int k = 0; k < V; ++k) sum_sq += v[k] * v[k];
    }
    const float total_sq = kWarp ? WarpSum(sum_sq) : BlockSum(sum_sq, scratch);
    const float inv_rms = rsqrtf(total_sq / static_cast<float>(p.group) + p.eps);
    __nv_bfloat16* out = p.out + r * p.out_row_stride + c0;
    // Writes this thread's normalised vector v at column c.
    auto store = [&](int64_t c, float (&v)[V]) {
      float w[V];
      LoadBf16<V>(p.weight + c, w);
#pragma unroll
      for (int k = 0; k < V; ++k) v[k] = v[k] * inv_rms * w[k];
      StoreBf16<V>(out + c, v);
    };
#pragma unroll
    for (int j = 0; j < kCachedVectors; ++j) {
      const int64_t c = lane * V + j * step;
      if (c < p.group) store(c, cached[j]);
    }
    const __nv_bfloat16* src = kAdd ? residual : x;
    for (int64_t c = lane * V + kCachedVectors * step; c < p.group; c += step) {
      float v[V];
      LoadBf16<V>(src + c, v);
      store(c, v);
    }
  }
}

template <int V, bool kAdd>
void LaunchWithWidth(const NormParams& p, cudaStream_t stream) {
  const int64_t groups = p.rows * (p.cols / p.group);
  const int64_t vectors = (p.group + V - 1) / V;
  if (vectors <= kMaxWarpVectors) {
    const int64_t groups_per_block = kWarpModeThreads / 32;
    const int64_t blocks = (groups + groups_per_block - 1) / groups_per_block;
    RmsNormKernel<V, kAdd, true>
        <<<static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks), kWarpModeThreads, 0,
           stream>>>(p);
    return;
  }
  // kCachedVectors vectors per thread: several 16-byte loads in flight per thread, and rows up to
  // kCachedVectors * kMaxBlockThreads vectors are read once.
  const int64_t per_thread = (vectors + kCachedVectors - 1) / kCachedVectors;
  const int64_t wanted = (per_thread + 31) / 32 * 32;
  const int threads = static_cast<int>(wanted < kMaxBlockThreads ? wanted : kMaxBlockThreads);
  RmsNormKernel<V, kAdd, false>
      <<<static_cast<unsigned>(groups < kMaxBlocks ? groups : kMaxBlocks), threads, 0, stream>>>(p);
}

int64_t UsedStride(int64_t rows, int64_t stride) { return rows > 1 ? stride : 0; }

cudaError_t LaunchNorm(const NormParams& p, cudaStream_t stream) {
  if (p.rows < 0 || p.cols < 0) return cudaErrorInvalidValue;
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  if (p.group <= 0 || p.cols % p.group != 0) return cudaErrorInvalidValue;
  if (p.x == nullptr || p.weight == nullptr || p.out == nullptr) return cudaErrorInvalidValue;
  const bool add = p.residual != nullptr;
  const bool vectorize = CanVectorizeBf16(
      {p.x, p.weight, p.out, p.residual},
      {p.group, UsedStride(p.rows, p.x_row_stride), UsedStride(p.rows, p.out_row_stride),
       UsedStride(p.rows, p.residual_row_stride)});
  if (vectorize && add) {
    LaunchWithWidth<kBf16Vector, true>(p, stream);
  } else if (vectorize) {
    LaunchWithWidth<kBf16Vector, false>(p, stream);
  } else if (add) {
    LaunchWithWidth<1, true>(p, stream);
  } else {
    LaunchWithWidth<1, false>(p, stream);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchRmsNorm(const RmsNormArgs& args, cudaStream_t stream) {
  NormParams p;
  p.x = args.x;
  p.x_row_stride = args.x_row_stride;
  p.weight = args.weight;
  p.out = args.out;
  p.out_row_stride = args.out_row_stride;
  p.rows = args.rows;
  p.cols = args.cols;
  p.group = args.group;
  p.eps = args.eps;
  return LaunchNorm(p, stream);
}

cudaError_t LaunchAddRmsNorm(const AddRmsNormArgs& args, cudaStream_t stream) {
  if (args.rows > 0 && args.cols > 0 && args.residual == nullptr) return cudaErrorInvalidValue;
  NormParams p;
  p.residual = args.residual;
  p.residual_row_stride = args.residual_row_stride;
  p.x = args.x;
  p.x_row_stride = args.x_row_stride;
  p.weight = args.weight;
  p.out = args.out;
  p.out_row_stride = args.out_row_stride;
  p.rows = args.rows;
  p.cols = args.cols;
  p.group = args.cols;
  p.eps = args.eps;
  return LaunchNorm(p, stream);
}

}  // namespace tspserve::kernels
