// The byte-level row gather behind Copy, GatherRows and Embedding (included by their .cu files
// only): dst row r = src row index[r] - index_offset (or src row r without an index), zeros when
// that row is outside [0, src_rows). Moves rows in the widest unit (16..1 bytes) that every
// address, pitch and width allows, so any dtype and any row stride work.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/launch_utils.cuh"

namespace tspserve::kernels {

struct RowGather {
  void* dst = nullptr;
  int64_t dst_pitch = 0;  // bytes between rows
  const void* src = nullptr;
  int64_t src_pitch = 0;
  int64_t src_rows = 0;
  const int32_t* index = nullptr;  // [rows] on the device, or null for the identity
  int64_t index_offset = 0;
  int64_t rows = 0;
  int64_t row_bytes = 0;
};

template <typename U>
__global__ void RowGatherKernel(RowGather g) {
  const int64_t units = g.row_bytes / static_cast<int64_t>(sizeof(U));
  const int64_t total = g.rows * units;
  for (int64_t i = GlobalThreadIndex(); i < total; i += GlobalThreadCount()) {
    const int64_t r = i / units;
    const int64_t u = i - r * units;
    const int64_t s = g.index != nullptr ? int64_t{g.index[r]} - g.index_offset : r;
    U value{};
    if (s >= 0 && s < g.src_rows) {
      value = reinterpret_cast<const U*>(static_cast<const char*>(g.src) + s * g.src_pitch)[u];
    }
    reinterpret_cast<U*>(static_cast<char*>(g.dst) + r * g.dst_pitch)[u] = value;
  }
}

// Enqueues the gather; returns the launch error. Rows may be 0 (nothing is launched).
inline cudaError_t LaunchRowGather(const RowGather& g, cudaStream_t stream) {
  if (g.rows < 0 || g.row_bytes < 0 || g.src_rows < 0) return cudaErrorInvalidValue;
  if (g.rows == 0 || g.row_bytes == 0) return cudaSuccess;
  if (g.dst == nullptr || g.src == nullptr) return cudaErrorInvalidValue;
  // A single row's pitch is never used, so it does not constrain the access width.
  const uint64_t dst_pitch = g.rows > 1 ? static_cast<uint64_t>(g.dst_pitch) : 0;
  const uint64_t src_pitch = g.src_rows > 1 ? static_cast<uint64_t>(g.src_pitch) : 0;
  const int unit = AccessUnitBytes({AddressBits(g.dst), AddressBits(g.src), dst_pitch, src_pitch,
                                    static_cast<uint64_t>(g.row_bytes)});
  const unsigned grid = GridSize(g.rows * (g.row_bytes / unit));
  switch (unit) {
    case 16: RowGatherKernel<uint4><<<grid, kThreadsPerBlock, 0, stream>>>(g); break;
    case 8: RowGatherKernel<uint2><<<grid, kThreadsPerBlock, 0, stream>>>(g); break;
    case 4: RowGatherKernel<uint32_t><<<grid, kThreadsPerBlock, 0, stream>>>(g); break;
    case 2: RowGatherKernel<uint16_t><<<grid, kThreadsPerBlock, 0, stream>>>(g); break;
    default: RowGatherKernel<uint8_t><<<grid, kThreadsPerBlock, 0, stream>>>(g); break;
  }
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
