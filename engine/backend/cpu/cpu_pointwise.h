// Element-wise ops on the CPU. All matrices are F32 with any row stride.
#pragma once

#include <cstdint>

#include "engine/tensor/tensor.h"

namespace tspserve::cpu {

// a += b. a, b [M, N].
void Add(const Tensor& a, const Tensor& b);

// x[m, :] += bias. x [M, N]; bias [N].
void AddBias(const Tensor& x, const Tensor& bias);

// out = silu(gate_up[:, :I]) * gate_up[:, I:], silu(g) = g * sigmoid(g). gate_up [M, 2I]; out [M,
// I].
void SiluMul(const Tensor& gate_up, const Tensor& out);

// Backend::FillRandom. t contiguous F32.
void FillRandom(const Tensor& t, uint64_t seed, float scale);

}  // namespace tspserve::cpu
