// Writes into and copies within one rank's paged K/V cache on the CPU.
#pragma once

#include <cstdint>
#include <span>

#include "engine/backend/backend.h"
#include "engine/tensor/tensor.h"

namespace tspserve::cpu {

// For each token t with slot_mapping[t] >= 0, copies k[t] and v[t] into heads
// [kv_head_offset, kv_head_offset + n) of slot (block = slot / block_size, offset =
// slot % block_size) of the cache. k, v [T, n*D] F32 (rows may be strided); slot_mapping [T] I64,
// each slot < num_blocks * block_size; cache k and v [num_blocks, block_size, n_kv, D] F32 with
// kv_head_offset + n <= n_kv.
void WriteKv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, const KvLayer& cache,
             int32_t kv_head_offset);

// Copies block src_block onto dst_block, K and V, in every layer. Copies run in order.
void CopyBlocks(std::span<const KvLayer> layers, std::span<const BlockCopyOp> copies);

}  // namespace tspserve::cpu
