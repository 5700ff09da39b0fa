// What one attention call reads besides Q and the cache: the batch's sequences, where their query
// tokens sit, and the pages (of this rank) that hold their keys. Built on the CPU by the planner,
// copied to the device once per step; kernels only read it.
#pragma once

#include <cstdint>

#include "engine/tensor/tensor.h"

namespace tspserve {

// All tensors are I32 unless stated and live on the backend's device.
struct AttentionMetadata {
  int32_t num_seqs = 0;
  int32_t num_tokens = 0;       // T, rows of Q
  int32_t max_query_len = 0;    // longest query run of one sequence (kernel launch shapes)
  int32_t max_pages = 0;        // most pages of one sequence
  int64_t max_keys = 0;         // most cached keys (sum of page_num_tokens) of one sequence
  Tensor query_start;           // [num_seqs + 1]: sequence s owns Q rows [query_start[s], query_start[s+1])
  Tensor query_positions;       // [T]: global position of each query token (the causal mask)
  Tensor page_start;            // [num_seqs + 1]: sequence s owns pages [page_start[s], page_start[s+1])
  // A page is a run of consecutive cache slots holding consecutive positions: slot
  // first_slot + i holds position first_position + i, for i < num_tokens. Slots index the cache
  // viewed as [num_blocks * block_size, n_kv, head_dim]: a paged-cache page starts at
  // block * block_size and holds at most block_size tokens; a gathered K/V run (sequence-sharded
  // prefill) is one page however long it is.
  Tensor page_first_slot;       // [P]
  Tensor page_first_position;   // [P]
  Tensor page_num_tokens;       // [P]
  Tensor slot_mapping;          // [T] I64: cache slot (block * block_size + offset) where each new
                                // token's K/V is written; -1 when another rank stores it
};

// Head layout of one attention call. Q holds `num_q_heads` consecutive query heads starting at
// global head `q_head_offset`; global query head h reads global K/V head h / group_size. The cache
// holds all `num_kv_heads` heads of its tokens.
struct AttentionShape {
  int32_t num_q_heads = 0;
  int32_t q_head_offset = 0;
  int32_t group_size = 1;       // query heads per K/V head (GQA)
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  float scale = 1.0f;           // usually 1/sqrt(head_dim)
  int32_t sliding_window = 0;   // > 0: a query at p sees keys at positions (p - window, p]
};

}  // namespace tspserve
