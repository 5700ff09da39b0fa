// Rotary position embedding tables, computed exactly as Hugging Face transformers computes them
// (default, linear and llama3 scaling), so that fp32 logits match theirs.
#pragma once

#include <cstdint>
#include <vector>

#include "models/config/model_config.h"

namespace tspserve {

// The inverse frequencies, [head_dim / 2], after rope scaling.
std::vector<float> RopeInverseFrequencies(const ModelConfig& config);

// The table the Rope op reads: [num_positions, head_dim] F32, row p holding cos(p * inv_freq) in
// its first head_dim/2 columns and sin(p * inv_freq) in the rest.
std::vector<float> RopeCosSinTable(const ModelConfig& config, int64_t num_positions);

}  // namespace tspserve
