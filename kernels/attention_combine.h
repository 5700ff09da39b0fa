// The split-KV merge on the GPU (Backend::CombineAttention): partial attentions over disjoint key
// sets, each with its log-sum-exp, combined into the exact softmax result.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// For each token t and head h, with m = max_s lse[s, t, h] and w_s = exp(lse[s, t, h] - m):
// out[t, h*D:(h+1)*D] = sum_s w_s * partials[s, t, h*D:(h+1)*D] / sum_s w_s, or zeros when every
// lse is -inf (no source saw a key). Sums in fp32.
struct AttentionCombineArgs {
  const __nv_bfloat16* partials = nullptr;  // [num_splits, num_tokens, num_heads * head_dim]
  const float* lse = nullptr;               // [num_splits, num_tokens, num_heads]
  __nv_bfloat16* out = nullptr;             // [num_tokens, num_heads * head_dim]
  int64_t out_row_stride = 0;               // elements
  int32_t num_splits = 0;
  int64_t num_tokens = 0;
  int32_t num_heads = 0;
  int32_t head_dim = 0;
};
cudaError_t LaunchAttentionCombine(const AttentionCombineArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
