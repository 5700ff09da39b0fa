#include "kernels/copy_blocks.h"

#include "kernels/launch_utils.cuh"

namespace tspserve::kernels {
namespace {

constexpr int64_t kMaxGridY = 65535;

// Block (x = pair, y = cache) copies one cache block, its threads striding over the block's units.
template <typename U>
__global__ void CopyBlocksKernel(CopyBlocksArgs args) {
  const int32_t src_block = args.pairs[2 * blockIdx.x];
  const int32_t dst_block = args.pairs[2 * blockIdx.x + 1];
  char* base = static_cast<char*>(args.caches[blockIdx.y]);
  const char* src = base + src_block * args.block_stride;
  char* dst = base + dst_block * args.block_stride;
  const int64_t units = args.slot_bytes / static_cast<int64_t>(sizeof(U));
  const int64_t total = args.block_size * units;
  for (int64_t i = threadIdx.x; i < total; i += blockDim.x) {
    const int64_t slot = i / units;
    const int64_t u = i - slot * units;
    reinterpret_cast<U*>(dst + slot * args.slot_stride)[u] =
        reinterpret_cast<const U*>(src + slot * args.slot_stride)[u];
  }
}

}  // namespace

cudaError_t LaunchCopyBlocks(const CopyBlocksArgs& args, cudaStream_t stream) {
  if (args.num_caches < 0 || args.num_pairs < 0 || args.num_caches > kMaxGridY ||
      args.block_size < 0 || args.slot_bytes < 0) {
    return cudaErrorInvalidValue;
  }
  if (args.num_caches == 0 || args.num_pairs == 0 || args.block_size == 0 ||
      args.slot_bytes == 0) {
    return cudaSuccess;
  }
  if (args.caches == nullptr || args.pairs == nullptr) return cudaErrorInvalidValue;
  const int unit = AccessUnitBytes({args.base_address_bits,
                                    static_cast<uint64_t>(args.block_stride),
                                    static_cast<uint64_t>(args.slot_stride),
                                    static_cast<uint64_t>(args.slot_bytes)});
  const dim3 grid(static_cast<unsigned>(args.num_pairs), static_cast<unsigned>(args.num_caches));
  switch (unit) {
    case 16: CopyBlocksKernel<uint4><<<grid, kThreadsPerBlock, 0, stream>>>(args); break;
    case 8: CopyBlocksKernel<uint2><<<grid, kThreadsPerBlock, 0, stream>>>(args); break;
    case 4: CopyBlocksKernel<uint32_t><<<grid, kThreadsPerBlock, 0, stream>>>(args); break;
    case 2: CopyBlocksKernel<uint16_t><<<grid, kThreadsPerBlock, 0, stream>>>(args); break;
    default: CopyBlocksKernel<uint8_t><<<grid, kThreadsPerBlock, 0, stream>>>(args); break;
  }
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
