// Workload: the arithmetic and memory traffic of one benchmark case, per GPU, from the model's
// shapes alone. Divided by measured device rates it gives the case's physical floor: no schedule
// can beat max(flops / matmul rate, bytes / HBM rate).
#pragma once

#include <cstdint>

#include "models/config/model_config.h"

namespace tspserve::bench {

struct Workload {
  double flops = 0;  // per GPU
  double bytes = 0;  // HBM bytes each GPU must at least read or write
};

// Bytes of all weights of the model in `dtype_bytes`-byte elements (embedding and head included).
double WeightBytes(const ModelConfig& config, int dtype_bytes);

// One prompt of `tokens` tokens, whole-prompt prefill, its work split evenly over `degree` GPUs:
// the projections and MLP (2 flops per weight per token), causal attention (2 * 2 * n_q * D per
// visible query-key pair), the LM head for the last token; bytes: the weights once, split, plus
// writing the prompt's K/V.
Workload PrefillWork(const ModelConfig& config, int64_t tokens, int32_t degree, int dtype_bytes);

// One decode step of `batch` sequences each attending `context` cached keys: weights read once per
// step and every sequence's K/V read once, split over `degree` GPUs.
Workload DecodeWork(const ModelConfig& config, int64_t batch, int64_t context, int32_t degree,
                    int dtype_bytes);

}  // namespace tspserve::bench
