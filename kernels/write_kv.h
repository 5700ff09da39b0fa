// Appends tokens' K and V to one layer's paged cache on the GPU (Backend::WriteKv).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// For each token t with 0 <= slot_mapping[t] < num_slots, copies k[t] and v[t] (width values each)
// into slot (block = slot / block_size, offset = slot % block_size) of the caches, starting at
// element `head_offset` of the slot (kv_head_offset * head_dim). Other tokens are skipped. All
// strides are in elements; the caches are [num_blocks, block_size, n_kv, head_dim] views whose slot
// rows [n_kv * head_dim] are contiguous, and K and V share one layout.
struct WriteKvArgs {
  const __nv_bfloat16* k = nullptr;  // [num_tokens, width]
  int64_t k_row_stride = 0;
  const __nv_bfloat16* v = nullptr;  // [num_tokens, width]
  int64_t v_row_stride = 0;
  const int64_t* slot_mapping = nullptr;  // [num_tokens], device
  int64_t num_tokens = 0;
  int64_t width = 0;
  __nv_bfloat16* k_cache = nullptr;
  __nv_bfloat16* v_cache = nullptr;
  int64_t block_size = 0;
  int64_t block_stride = 0;
  int64_t slot_stride = 0;
  int64_t num_slots = 0;  // num_blocks * block_size
  int64_t head_offset = 0;
};
cudaError_t LaunchWriteKv(const WriteKvArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
