// Copies whole K/V cache blocks within every layer on the GPU (Backend::CopyBlocks, copy-on-write
// after a fork).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// For every (src, dst) pair and every cache, copies block src onto block dst: block_size slots of
// slot_bytes each. All caches (each layer's K and V) share one layout and differ in base address.
// The pairs are copied concurrently, so no dst may be another pair's src or dst (the caller orders
// dependent copies into separate launches).
struct CopyBlocksArgs {
  void* const* caches = nullptr;  // [num_caches] base addresses, in device memory
  int32_t num_caches = 0;
  const int32_t* pairs = nullptr;  // [num_pairs, 2] (src_block, dst_block), in device memory
  int32_t num_pairs = 0;
  int64_t block_size = 0;
  int64_t block_stride = 0;  // bytes
  int64_t slot_stride = 0;   // bytes
  int64_t slot_bytes = 0;
  // Every cache base address OR-ed together (host side), to choose the access width.
  uint64_t base_address_bits = 0;
};
cudaError_t LaunchCopyBlocks(const CopyBlocksArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
