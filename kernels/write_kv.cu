#include "kernels/write_kv.h"

#include "kernels/launch_utils.cuh"

namespace tspserve::kernels {
namespace {

// One thread per access unit U of one token's row, moving that unit of both K and V.
template <typename U>
__global__ void WriteKvKernel(WriteKvArgs args) {
  constexpr int64_t kPerUnit = sizeof(U) / sizeof(__nv_bfloat16);
  const int64_t units = args.width / kPerUnit;
  const int64_t total = args.num_tokens * units;
  for (int64_t i = GlobalThreadIndex(); i < total; i += GlobalThreadCount()) {
    const int64_t t = i / units;
    const int64_t e = (i - t * units) * kPerUnit;
    const int64_t slot = args.slot_mapping[t];
    if (slot < 0 || slot >= args.num_slots) continue;
    const int64_t block = slot / args.block_size;
    const int64_t dst = block * args.block_stride + (slot - block * args.block_size) * args.slot_stride +
                        args.head_offset + e;
    *reinterpret_cast<U*>(args.k_cache + dst) =
        *reinterpret_cast<const U*>(args.k + t * args.k_row_stride + e);
    *reinterpret_cast<U*>(args.v_cache + dst) =
        *reinterpret_cast<const U*>(args.v + t * args.v_row_stride + e);
  }
}

}  // namespace

cudaError_t LaunchWriteKv(const WriteKvArgs& args, cudaStream_t stream) {
  if (args.num_tokens < 0 || args.width < 0 || args.block_size <= 0 || args.num_slots < 0 ||
      args.head_offset < 0) {
    return cudaErrorInvalidValue;
  }
  if (args.num_tokens == 0 || args.width == 0) return cudaSuccess;
  if (args.k == nullptr || args.v == nullptr || args.slot_mapping == nullptr ||
      args.k_cache == nullptr || args.v_cache == nullptr) {
    return cudaErrorInvalidValue;
  }
  constexpr uint64_t kBytes = sizeof(__nv_bfloat16);
  const bool many = args.num_tokens > 1;
  const int unit = AccessUnitBytes(
      {AddressBits(args.k), AddressBits(args.v), AddressBits(args.k_cache),
       AddressBits(args.v_cache), static_cast<uint64_t>(args.width) * kBytes,
       static_cast<uint64_t>(many ? args.k_row_stride : 0) * kBytes,
       static_cast<uint64_t>(many ? args.v_row_stride : 0) * kBytes,
       static_cast<uint64_t>(args.block_stride) * kBytes,
       static_cast<uint64_t>(args.slot_stride) * kBytes,
       static_cast<uint64_t>(args.head_offset) * kBytes});
  const int64_t items = args.num_tokens * args.width * static_cast<int64_t>(kBytes) / unit;
  switch (unit) {
    case 16: WriteKvKernel<uint4><<<GridSize(items), kThreadsPerBlock, 0, stream>>>(args); break;
    case 8: WriteKvKernel<uint2><<<GridSize(items), kThreadsPerBlock, 0, stream>>>(args); break;
    case 4: WriteKvKernel<uint32_t><<<GridSize(items), kThreadsPerBlock, 0, stream>>>(args); break;
    default: WriteKvKernel<uint16_t><<<GridSize(items), kThreadsPerBlock, 0, stream>>>(args); break;
  }
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
