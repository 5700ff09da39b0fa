#include "kernels/fill_random.h"

#include <cuda_bf16.h>

#include "kernels/launch_utils.cuh"

namespace tspserve::kernels {
namespace {

__device__ __forceinline__ uint64_t SplitMix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

__device__ __forceinline__ float RandomValue(uint64_t seed, uint64_t index, float scale) {
  const uint64_t bits = SplitMix64(seed + index * 0x9E3779B97F4A7C15ull) >> 40;  // 24 bits
  const float u = __fmul_rn(static_cast<float>(bits), 1.0f / 16777216.0f);
  return __fmul_rn(__fsub_rn(__fmul_rn(2.0f, u), 1.0f), scale);
}

template <typename T>
__global__ void FillRandomKernel(FillRandomArgs args) {
  T* data = static_cast<T*>(args.data);
  for (int64_t i = GlobalThreadIndex(); i < args.numel; i += GlobalThreadCount()) {
    const float value = RandomValue(args.seed, static_cast<uint64_t>(i), args.scale);
    if constexpr (sizeof(T) == sizeof(float)) {
      data[i] = value;
    } else {
      data[i] = __float2bfloat16_rn(value);
    }
  }
}

}  // namespace

cudaError_t LaunchFillRandom(const FillRandomArgs& args, cudaStream_t stream) {
  if (args.numel < 0) return cudaErrorInvalidValue;
  if (args.numel == 0) return cudaSuccess;
  if (args.data == nullptr) return cudaErrorInvalidValue;
  if (args.type == FillRandomType::kF32) {
    FillRandomKernel<float><<<GridSize(args.numel), kThreadsPerBlock, 0, stream>>>(args);
  } else {
    FillRandomKernel<__nv_bfloat16><<<GridSize(args.numel), kThreadsPerBlock, 0, stream>>>(args);
  }
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
