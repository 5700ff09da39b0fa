// Row gathers on the CPU: the embedding lookup and row selection.
#pragma once

#include <cstdint>

#include "engine/tensor/tensor.h"

namespace tspserve::cpu {

// out[t] = table[ids[t] - vocab_begin] when vocab_begin <= ids[t] < vocab_begin + V_shard, else
// zeros (another rank holds that row). ids [T] I32; table [V_shard, H] F32; out [T, H] F32.
void Embedding(const Tensor& ids, const Tensor& table, int64_t vocab_begin, const Tensor& out);

// out[i] = x[rows[i]]. x [T, H] F32; rows [S] I32, each in [0, T); out [S, H] F32, not overlapping
// x.
void GatherRows(const Tensor& x, const Tensor& rows, const Tensor& out);

}  // namespace tspserve::cpu

namespace tspserve::cpu {

// dst = src. Both [M, N] F32 with any row stride.
void Copy(const Tensor& dst, const Tensor& src);

}  // namespace tspserve::cpu
