#include "kernels/matmul_fallback.h"

#include "kernels/launch_utils.cuh"

namespace tspserve::kernels {
namespace {

constexpr int kTile = 64;                         // output tile kTile x kTile
constexpr int kTileK = 32;                        // reduction slice per step
constexpr int kThreadsSide = 16;                  // 16 x 16 threads
constexpr int kPerThread = kTile / kThreadsSide;  // 4 x 4 outputs per thread
constexpr int64_t kMaxGridY = 65535;

// Loads rows [row0, row0 + kTile) x columns [k0, k0 + kTileK) of a [rows, k] matrix into `tile`
// as floats, zeros outside the matrix.
__device__ __forceinline__ void LoadTile(const __nv_bfloat16* a, int64_t stride, int64_t rows,
                                         int64_t k, int64_t row0, int64_t k0,
                                         float (*tile)[kTileK + 1]) {
  const int tid = threadIdx.y * kThreadsSide + threadIdx.x;
  for (int i = tid; i < kTile * kTileK; i += kThreadsSide * kThreadsSide) {
    const int r = i / kTileK;
    const int c = i % kTileK;
    const int64_t row = row0 + r;
    const int64_t col = k0 + c;
    tile[r][c] = row < rows && col < k ? __bfloat162float(a[row * stride + col]) : 0.0f;
  }
}

__global__ void MatMulKernel(MatMulArgs args) {
  __shared__ float xs[kTile][kTileK + 1];
  __shared__ float ws[kTile][kTileK + 1];
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTile;
  float acc[kPerThread][kPerThread] = {};
  for (int64_t k0 = 0; k0 < args.k; k0 += kTileK) {
    LoadTile(args.x, args.x_row_stride, args.m, args.k, m0, k0, xs);
    LoadTile(args.w, args.w_row_stride, args.n, args.k, n0, k0, ws);
    __syncthreads();
#pragma unroll 8
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[kPerThread], b[kPerThread];
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) a[i] = xs[threadIdx.y + i * kThreadsSide][kk];
#pragma unroll
      for (int j = 0; j < kPerThread; ++j) b[j] = ws[threadIdx.x + j * kThreadsSide][kk];
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) {
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) acc[i][j] += a[i] * b[j];
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int64_t row = m0 + threadIdx.y + i * kThreadsSide;
    if (row >= args.m) continue;
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int64_t col = n0 + threadIdx.x + j * kThreadsSide;
      if (col >= args.n) continue;
      const int64_t at = row * args.out_row_stride + col;
      if (args.out_f32) {
        float* o = static_cast<float*>(args.out) + at;
        *o = (args.accumulate ? *o : 0.0f) + acc[i][j];
      } else {
        __nv_bfloat16* o = static_cast<__nv_bfloat16*>(args.out) + at;
        const float prior = args.accumulate ? __bfloat162float(*o) : 0.0f;
        *o = __float2bfloat16_rn(prior + acc[i][j]);
      }
    }
  }
}

}  // namespace

cudaError_t LaunchMatMulFallback(const MatMulArgs& args, cudaStream_t stream) {
  if (args.m < 0 || args.n < 0 || args.k < 0) return cudaErrorInvalidValue;
  if (args.m == 0 || args.n == 0) return cudaSuccess;
  if (args.out == nullptr || (args.k > 0 && (args.x == nullptr || args.w == nullptr))) {
    return cudaErrorInvalidValue;
  }
  const int64_t grid_x = (args.n + kTile - 1) / kTile;
  const int64_t grid_y = (args.m + kTile - 1) / kTile;
  if (grid_y > kMaxGridY) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(grid_x), static_cast<unsigned>(grid_y));
  MatMulKernel<<<grid, dim3(kThreadsSide, kThreadsSide), 0, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
