// Paged causal attention on the GPU: the CUDA implementation of Backend::Attention (see
// engine/backend/backend.h and engine/backend/attention_metadata.h for the contract; the CPU
// backend's engine/backend/cpu/cpu_attention.cc is the reference). bf16 Q/K/V/out, fp32 softmax
// and accumulation, fp32 log-sum-exp.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace tspserve::kernels {

struct PagedAttentionParams {
  // Queries: bf16 [num_tokens, num_q_heads * head_dim]; row r starts at q + r * q_row_stride.
  const void* q = nullptr;
  int64_t q_row_stride = 0;  // elements
  // The cache: bf16 slots, slot s of K at k_cache + s * kv_slot_stride holding [num_kv_heads,
  // head_dim] contiguous; V likewise.
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  int64_t kv_slot_stride = 0;  // elements
  // Output: bf16 [num_tokens, num_q_heads * head_dim] with row stride out_row_stride; every
  // element is written (zeros for a query that sees no key).
  void* out = nullptr;
  int64_t out_row_stride = 0;
  // fp32 [num_tokens, num_q_heads] contiguous, or null: log-sum-exp of the scaled scores
  // (-inf for a query that sees no key).
  float* lse = nullptr;
  // Metadata, device pointers (AttentionMetadata): sequence s owns query rows
  // [query_start[s], query_start[s+1]) and pages [page_start[s], page_start[s+1]); page p holds
  // positions page_first_position[p] + i in slots page_first_slot[p] + i, i < page_num_tokens[p].
  // Pages of a sequence may come in any order and need not be full.
  const int32_t* query_start = nullptr;
  const int32_t* query_positions = nullptr;
  const int32_t* page_start = nullptr;
  const int32_t* page_first_slot = nullptr;
  const int32_t* page_first_position = nullptr;
  const int32_t* page_num_tokens = nullptr;
  int32_t num_seqs = 0;
  int32_t num_tokens = 0;
  int32_t max_query_len = 0;  // host copy: the longest query run of one sequence
  int32_t max_pages = 0;      // host copy: most pages of one sequence
  int64_t max_keys = 0;       // host copy: most cached keys of one sequence (0: unknown)
  // Heads: Q holds query heads [q_head_offset, q_head_offset + num_q_heads); global query head h
  // reads K/V head h / group_size of the cache's num_kv_heads.
  int32_t num_q_heads = 0;
  int32_t q_head_offset = 0;
  int32_t group_size = 1;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  float scale = 1.0f;
  int32_t sliding_window = 0;  // > 0: a query at p sees keys at positions (p - window, p]
  // Scratch for split-KV partials, at least PagedAttentionWorkspaceBytes(*this) bytes.
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// Whether head_dim and the head layout are supported (returns cudaErrorInvalidValue if not).
cudaError_t CheckPagedAttentionSupported(int32_t head_dim);

// Scratch bytes LaunchPagedAttention needs for these parameters (a function of the host fields
// only, so a CUDA graph can size it at capture). Also reads the current device's multiprocessor
// count (the split-KV grid is sized to fill it): call it with the device of the launch current.
// Nonzero only for the split-KV path (max_query_len <= 16 with few sequences and many keys).
size_t PagedAttentionWorkspaceBytes(const PagedAttentionParams& params);

// Enqueues the attention on `stream`. Returns the launch error, if any; cudaErrorInvalidValue for
// an unsupported head_dim, a bad head layout, too small a workspace, or a layout the kernels
// cannot read: q, k_cache and v_cache must be 16-byte aligned with q_row_stride and
// kv_slot_stride multiples of 8; out 4-byte aligned with an even out_row_stride. Nothing is
// launched when num_tokens, num_seqs or num_q_heads is 0. Rows outside every sequence's
// [query_start[s], query_start[s+1]) are not written. Paths: max_query_len <= 16 takes split-KV
// decode (one CTA per sequence, K/V head and key chunk, all query rows and heads of that K/V
// head; then a combine when chunks > 1); longer runs take the flash-attention prefill (one CTA
// per 64 query rows of one head).
cudaError_t LaunchPagedAttention(const PagedAttentionParams& params, cudaStream_t stream);

}  // namespace tspserve::kernels
