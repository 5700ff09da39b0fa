// Helpers shared by the kernel families' .cu files (never included by engine/ code): bf16 vectors
// of 1 or 8 elements moved as fp32, alignment tests that pick the access width, and the size of a
// grid-stride launch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>

namespace tspserve::kernels {

inline constexpr int kThreadsPerBlock = 256;
// Grid-stride kernels launch at most this many blocks; each thread then loops over the rest.
inline constexpr int64_t kMaxBlocks = 1 << 16;
// Elements of a 16-byte bf16 vector.
inline constexpr int kBf16Vector = 8;

// Blocks for `items` work items of one thread each, capped at kMaxBlocks (items > 0).
inline unsigned GridSize(int64_t items, int threads = kThreadsPerBlock) {
  const int64_t blocks = (items + threads - 1) / threads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

// Whether bf16 data can move as 16-byte vectors: every pointer 16-byte aligned and every count
// (widths, row strides, offsets in elements) a multiple of 8.
inline bool CanVectorizeBf16(std::initializer_list<const void*> pointers,
                             std::initializer_list<int64_t> counts) {
  for (const void* p : pointers) {
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  }
  for (int64_t c : counts) {
    if (c % kBf16Vector != 0) return false;
  }
  return true;
}

// The widest access unit (16, 8, 4, 2 or 1 bytes) dividing every value in `byte_quantities`
// (addresses, pitches and widths in bytes, OR-ed together by the caller or listed here).
inline int AccessUnitBytes(std::initializer_list<uint64_t> byte_quantities) {
  uint64_t bits = 16;
  for (uint64_t q : byte_quantities) bits |= q;
  return static_cast<int>(bits & (~bits + 1));  // lowest set bit, at most 16
}

inline uint64_t AddressBits(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// The index of this thread in a 1-D grid and the grid's thread count, as 64-bit values.
__device__ __forceinline__ int64_t GlobalThreadIndex() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t GlobalThreadCount() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// Loads V consecutive bf16 values as floats (V == 8: one 16-byte load; p must be 16-byte aligned).
template <int V>
__device__ __forceinline__ void LoadBf16(const __nv_bfloat16* p, float (&v)[V]) {
  if constexpr (V == kBf16Vector) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int i = 0; i < V / 2; ++i) {
      const float2 f = __bfloat1622float2(pairs[i]);
      v[2 * i] = f.x;
      v[2 * i + 1] = f.y;
    }
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) v[i] = __bfloat162float(p[i]);
  }
}

// Stores V floats as bf16 (round to nearest even) to consecutive addresses.
template <int V>
__device__ __forceinline__ void StoreBf16(__nv_bfloat16* p, const float (&v)[V]) {
  if constexpr (V == kBf16Vector) {
    uint4 raw;
    __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
    for (int i = 0; i < V / 2; ++i) pairs[i] = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);
    *reinterpret_cast<uint4*>(p) = raw;
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) p[i] = __float2bfloat16_rn(v[i]);
  }
}

// Loads V consecutive floats (V == 8: two 16-byte loads; p must be 16-byte aligned).
template <int V>
__device__ __forceinline__ void LoadF32(const float* p, float (&v)[V]) {
  if constexpr (V % 4 == 0) {
#pragma unroll
    for (int i = 0; i < V; i += 4) {
      const float4 f = *reinterpret_cast<const float4*>(p + i);
      v[i] = f.x;
      v[i + 1] = f.y;
      v[i + 2] = f.z;
      v[i + 3] = f.w;
    }
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) v[i] = p[i];
  }
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum of `v` over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the
// total. `scratch` holds 32 floats of shared memory; the call ends with a barrier so it can be
// reused at once. Every thread of the block must call it.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  v = WarpSum(v);
  const int warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.0f;
  const int num_warps = blockDim.x / 32;
  for (int i = 0; i < num_warps; ++i) total += scratch[i];
  __syncthreads();
  return total;
}

}  // namespace tspserve::kernels
