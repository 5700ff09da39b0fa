// Embedding lookup on the GPU for a vocabulary shard: Backend::Embedding.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// out[t] = table[ids[t] - vocab_begin] when vocab_begin <= ids[t] < vocab_begin + vocab_rows, else
// zeros (another rank holds that row). Strides are in elements.
struct EmbeddingArgs {
  const int32_t* ids = nullptr;  // [num_tokens], device
  int64_t num_tokens = 0;
  const __nv_bfloat16* table = nullptr;  // [vocab_rows, hidden]
  int64_t table_row_stride = 0;
  int64_t vocab_rows = 0;
  int64_t vocab_begin = 0;
  __nv_bfloat16* out = nullptr;  // [num_tokens, hidden]
  int64_t out_row_stride = 0;
  int64_t hidden = 0;
};

// Enqueues the lookup on `stream` (nothing for zero tokens); returns the launch error.
cudaError_t LaunchEmbedding(const EmbeddingArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
