// One rank's shard of a decoder's weights, in the backend's compute dtype, packed as DESIGN.md
// section 1 says: each layer's attention shard in one buffer and its MLP shard in another, so that
// one collective can move a whole shard. Tensors below are views into those buffers.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend/backend.h"
#include "engine/parallel/shard_layout.h"
#include "models/checkpoint/checkpoint.h"
#include "models/config/model_config.h"

namespace tspserve {

// Shapes with n_q = layout.q_heads.size(), n_kv = layout.kv_heads.size(), D = head_dim,
// H = hidden_size, I_r = layout.intermediate.size().
struct AttentionShardWeights {
  Tensor qkv;       // [(n_q + 2 n_kv) * D, H]: q rows, then k rows, then v rows
  Tensor qkv_bias;  // [(n_q + 2 n_kv) * D], empty unless config.attention_bias
  Tensor o;         // [H, n_q * D]: the columns of o_proj that these heads feed
  Tensor o_bias;    // [H] on rank 0 only (added once after the partial sums), when config.o_proj_bias
  Tensor q_norm;    // [D], empty unless config.qk_norm (replicated)
  Tensor k_norm;    // [D]
};

struct MlpShardWeights {
  Tensor gate_up;  // [2 I_r, H]: gate rows, then up rows
  Tensor down;     // [H, I_r]
};

struct LayerWeights {
  Buffer attention_buffer;  // owns everything in `attention`
  Buffer mlp_buffer;        // owns everything in `mlp`
  AttentionShardWeights attention;
  MlpShardWeights mlp;
  Tensor input_norm;          // [H], view into ModelWeights::norms_buffer
  Tensor post_attention_norm; // [H]
};

struct ModelWeights {
  ShardLayout layout;
  std::vector<LayerWeights> layers;
  Buffer norms_buffer;  // every layer's two norms, then the final norm
  Tensor final_norm;    // [H]
  Buffer embedding_buffer;
  Tensor embedding;     // [Vp / N, H]: vocabulary rows layout.vocab (zero past vocab_size)
  Buffer lm_head_buffer;  // empty when the embedding is tied
  Tensor lm_head;         // [Vp / N, H]

  int64_t bytes() const;  // total bytes of weights this rank holds
};

// The packed shards of any rank, as bytes and as views into memory at `base` laid out as that
// rank's own buffer is: what the broadcast and ring schedules receive.
size_t AttentionShardBytes(const ModelConfig& config, const ShardLayout& layout, DType dtype);
AttentionShardWeights AttentionShardViews(const ModelConfig& config, const ShardLayout& layout,
                                          DType dtype, void* base, Device device);
size_t MlpShardBytes(const ModelConfig& config, const ShardLayout& layout, DType dtype);
MlpShardWeights MlpShardViews(const ModelConfig& config, const ShardLayout& layout, DType dtype,
                              void* base, Device device);

// Reads this rank's shard (only its slices) from the checkpoint, checking every tensor's shape
// against the config; errors name the tensor and the file. With `show_progress`, loading that
// takes more than a second draws a progress line on a terminal (one rank should, not all).
absl::StatusOr<ModelWeights> LoadModelWeights(const Checkpoint& checkpoint, const ModelConfig& config,
                                              const ShardLayout& layout, Backend& backend,
                                              bool show_progress = false);

// Weights of the same layout, shapes and memory as LoadModelWeights, filled on the device with
// Backend::FillRandom (matrices uniform in +-1/sqrt(in_features), norms in +-1): benchmarks of
// large shapes without checkpoint files. Deterministic in `seed`; every rank fills its own shard.
absl::StatusOr<ModelWeights> MakeRandomWeights(const ModelConfig& config, const ShardLayout& layout,
                                               Backend& backend, uint64_t seed);

}  // namespace tspserve
