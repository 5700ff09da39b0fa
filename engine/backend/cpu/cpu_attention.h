// Paged causal attention on the CPU: the reference every other attention kernel is tested against.
#pragma once

#include "engine/backend/attention_metadata.h"
#include "engine/backend/backend.h"
#include "engine/tensor/tensor.h"

namespace tspserve::cpu {

// For each sequence s, each query row t in [query_start[s], query_start[s+1]) and each local query
// head h, attends over the filled slots of the sequence's pages (in any order of positions): a key
// at position kp is visible iff kp <= query_positions[t] and, when sliding_window > 0,
// kp > query_positions[t] - sliding_window. Global query head q_head_offset + h reads K/V head
// (q_head_offset + h) / group_size. The softmax is exact (two passes, fp32) over scale * q·k.
// q, out [T, n_q*D] F32 (rows may be strided; out must not overlap q); lse [T, n_q] F32 receives
// log(sum(exp(scale * q·k))) over the visible keys, or is empty. A query with no visible key writes
// zeros and lse = -inf. Rows of q outside every sequence are left untouched.
void Attention(const Tensor& q, const KvLayer& cache, const AttentionMetadata& meta,
               const AttentionShape& shape, const Tensor& out, const Tensor& lse);

}  // namespace tspserve::cpu
