// LlamaModel: the Llama-family forward pass (Llama 2/3, Mistral, Qwen2, Qwen3) on one rank, written
// once against the Backend op set. It owns the rank's weights, the K/V storage of its pages, and
// the activation arena that one step reuses.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend/backend.h"
#include "models/config/model_config.h"
#include "models/forward_batch.h"
#include "models/weights.h"

namespace tspserve {

struct KvStorageOptions {
  int32_t num_blocks = 0;
  int32_t block_size = 16;
};

class LlamaModel {
 public:
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Create(const ModelConfig& config,
                                                         ModelWeights weights, Backend& backend,
                                                         const KvStorageOptions& kv);

  // Runs every layer on the batch: writes the K/V of its tokens into their slots, attends over
  // each sequence's pages, and returns the logits of batch.logit_rows as host floats,
  // [logit_rows.size(), vocab_size] (padding columns dropped).
  absl::StatusOr<std::vector<float>> Forward(const ForwardBatch& batch);

  // Copy-on-write page copies after a fork, for every layer.
  void CopyBlocks(std::span<const BlockCopyOp> copies);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  Backend& backend() { return backend_; }
  int32_t num_kv_blocks() const { return kv_options_.num_blocks; }
  int32_t block_size() const { return kv_options_.block_size; }
  // Bytes of one KV page across all layers (K and V, all heads) in the compute dtype.
  static int64_t BytesPerKvBlock(const ModelConfig& config, int32_t block_size, DType dtype);

 private:
  LlamaModel(const ModelConfig& config, ModelWeights weights, Backend& backend,
          const KvStorageOptions& kv);
  absl::Status AllocateKvStorage();
  absl::Status EnsureActivations(int32_t num_tokens, int32_t num_logit_rows);
  absl::Status UploadMetadata(const ForwardBatch& batch);
  void AttentionBlock(int64_t layer, const Tensor& normed, const Tensor& out);
  void MlpBlock(int64_t layer, const Tensor& normed, const Tensor& out);

  ModelConfig config_;
  ModelWeights weights_;
  Backend& backend_;
  KvStorageOptions kv_options_;
  AttentionShape attention_shape_;

  Buffer kv_buffer_;
  std::vector<KvLayer> kv_layers_;
  Buffer rope_buffer_;
  Tensor rope_table_;  // [max_position_embeddings, head_dim] F32

  // Step state: metadata uploaded once per step, activations sized for the largest step so far.
  Buffer metadata_buffer_;
  AttentionMetadata meta_;
  Tensor token_ids_, logit_rows_;
  Buffer activation_buffer_;
  int32_t activation_tokens_ = 0, activation_rows_ = 0;
  Tensor residual_, normed_, qkv_, attn_out_, gate_up_, mlp_act_, block_out_, last_hidden_, logits_;
};

}  // namespace tspserve
