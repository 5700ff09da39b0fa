// Merges split-KV partials into the attention output: for each (token, head) of a sequence,
// out = sum_c exp(lse_c - M) o_c / sum_c exp(lse_c - M) and lse = M + log(sum_c exp(lse_c - M)),
// M = max_c lse_c (exact softmax over the union of the chunks). Private to
// kernels/paged_attention.cu.
#pragma once

#include <cmath>
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/paged_attention.h"

namespace tspserve::kernels::attention {

constexpr int kCombineWarps = 4;

// Grid (ceil(max_query_len * num_q_heads / kCombineWarps), num_seqs), kCombineWarps warps; one
// warp per (token, head) pair of sequence blockIdx.y, lane i owning dims [4i, 4i + 4).
// partial_out: [num_splits, num_tokens, num_q_heads, kDim]; partial_lse: [num_splits,
// num_tokens, num_q_heads].
template <int kDim>
__global__ void __launch_bounds__(kCombineWarps * 32)
    CombineSplitsKernel(const PagedAttentionParams p, int32_t num_splits,
                        const float* __restrict__ partial_out,
                        const float* __restrict__ partial_lse) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  const int64_t pair = int64_t{blockIdx.x} * kCombineWarps + (threadIdx.x >> 5);
  const int32_t seq = static_cast<int32_t>(blockIdx.y);
  const int32_t query_begin = p.query_start[seq];
  const int64_t num_pairs = int64_t{p.query_start[seq + 1] - query_begin} * p.num_q_heads;
  if (pair >= num_pairs) return;
  const int64_t token = query_begin + pair / p.num_q_heads;
  const int64_t head = pair % p.num_q_heads;
  const int64_t split_stride = int64_t{p.num_tokens} * p.num_q_heads;
  const int64_t index = token * p.num_q_heads + head;

  float max_lse = -INFINITY;
  for (int32_t c = 0; c < num_splits; ++c) {
    max_lse = fmaxf(max_lse, partial_lse[c * split_stride + index]);
  }
  float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  float sum = 0.0f;
  const bool has_dims = lane * 4 < kDim;
  if (max_lse != -INFINITY) {
    for (int32_t c = 0; c < num_splits; ++c) {
      const float weight = __expf(partial_lse[c * split_stride + index] - max_lse);
      sum += weight;
      if (has_dims && weight > 0.0f) {
        const float4 o = *reinterpret_cast<const float4*>(
            partial_out + (c * split_stride + index) * kDim + lane * 4);
        acc.x += weight * o.x;
        acc.y += weight * o.y;
        acc.z += weight * o.z;
        acc.w += weight * o.w;
      }
    }
  }
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  if (has_dims) {
    auto* dst = static_cast<__nv_bfloat16*>(p.out) + token * p.out_row_stride + head * kDim +
                lane * 4;
    reinterpret_cast<__nv_bfloat162*>(dst)[0] = __floats2bfloat162_rn(acc.x * inv, acc.y * inv);
    reinterpret_cast<__nv_bfloat162*>(dst)[1] = __floats2bfloat162_rn(acc.z * inv, acc.w * inv);
  }
  if (lane == 0 && p.lse != nullptr) {
    p.lse[index] = sum > 0.0f ? max_lse + logf(sum) : -INFINITY;
  }
}

}  // namespace tspserve::kernels::attention
