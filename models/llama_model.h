// LlamaModel: one rank's part of a Llama-family decoder (Llama 2/3, Mistral, Qwen2, Qwen3): its
// weight shard, the K/V storage of its pages, the RoPE table and reusable step memory, and the
// building blocks every parallel schedule (engine/parallel/) composes into a forward pass.
#pragma once

#include <algorithm>
#include <array>
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
  IndexRange kv_heads;  // the K/V heads this rank stores for its tokens (empty: all of them)
};

// Device copies of one ForwardBatch's index arrays.
struct UploadedBatch {
  Tensor token_ids;   // [T] I32
  Tensor logit_rows;  // [R] I32
  AttentionMetadata meta;
};


// Q, K and V: column views of one fused projection. q [T, n_q*D]; k, v [T, n_kv*D].
struct QkvViews {
  Tensor q, k, v;
};

class LlamaModel {
 public:
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Create(const ModelConfig& config,
                                                            ModelWeights weights, Backend& backend,
                                                            const KvStorageOptions& kv);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const ShardLayout& layout() const { return weights_.layout; }
  Backend& backend() { return backend_; }
  const KvLayer& kv_layer(int64_t layer) const { return kv_layers_[static_cast<size_t>(layer)]; }
  std::span<const KvLayer> kv_layers() const { return kv_layers_; }
  IndexRange stored_kv_heads() const { return kv_options_.kv_heads; }
  int32_t num_kv_blocks() const { return kv_options_.num_blocks; }
  int32_t block_size() const { return kv_options_.block_size; }
  int64_t kv_page_bytes() const {
    return BytesPerKvBlock(config_, kv_options_.block_size, kv_options_.kv_heads.size(),
                           backend_.compute_dtype());
  }
  float rms_norm_eps() const { return static_cast<float>(config_.rms_norm_eps); }

  // Bytes of one KV page across all layers (K and V) for `num_kv_heads` heads.
  static int64_t BytesPerKvBlock(const ModelConfig& config, int32_t block_size, int64_t num_kv_heads,
                                 DType dtype);

  // Frees every scratch and metadata buffer (they grow again on the next step): lets a benchmark
  // measure each case's activation peak on its own.
  void ReleaseStepMemory();
  // How many scratch slots a model holds.
  static constexpr int kMaxScratchSlots = 64;
  // A [rows, cols] tensor of step memory for `slot` (< kMaxScratchSlots), reused across steps and
  // grown when a step needs more. Slots are the schedules' business; `kind` is what the memory
  // report calls it (activations, or workspace for weight shards in transit).
  absl::StatusOr<Tensor> Scratch(int slot, DType dtype, int64_t rows, int64_t cols,
                                 MemoryKind kind = MemoryKind::kActivations);
  // Copies a batch's index arrays to the device, into metadata slot `slot` (a step may need two:
  // one for this rank's pages, one for gathered keys). With `fixed`, the layout and launch shapes
  // are those (InvalidArgument when the batch exceeds them).
  absl::StatusOr<UploadedBatch> Upload(int slot, const ForwardBatch& batch,
                                       const FixedUploadShapes* fixed = nullptr);
  // Changes whenever a scratch or metadata buffer is (re)allocated or freed: device addresses a
  // recording holds are stale once it has moved on.
  uint64_t memory_generation() const { return memory_generation_; }

  // Q, K, V of the heads of `shard` (whose packed weights `w` holds) for the tokens `x`: the fused
  // projection into `qkv`, bias, Qwen3's q/k norm, RoPE at `positions`.
  QkvViews ProjectQkv(const AttentionShardWeights& w, const ShardLayout& shard, const Tensor& x,
                      const Tensor& positions, const Tensor& qkv);
  // The attention shape of `shard`'s query heads reading a cache that holds K/V heads `cached`.
  AttentionShape ShapeFor(const ShardLayout& shard, IndexRange cached) const;
  // out (+)= down(silu(gate(x)) * up(x)) through the MLP shard `w`. gate_up, act are scratch
  // [C, 2 I_s] and [C, I_s] with 1 <= C <= T: x [T, H] goes through in chunks of C tokens, so the
  // MLP's intermediate (the largest activation of a long prompt) never holds more than C rows.
  // Callers size C with MlpChunkRows().
  static int64_t MlpChunkRows(int64_t tokens) { return std::min<int64_t>(tokens, kMlpChunkTokens); }
  static constexpr int64_t kMlpChunkTokens = 16384;
  void Mlp(const MlpShardWeights& w, const Tensor& x, const Tensor& gate_up, const Tensor& act,
           const Tensor& out, bool accumulate);
  // Copy-on-write page copies after a fork, for every layer.
  void CopyBlocks(std::span<const BlockCopyOp> copies);
  const Tensor& rope_table() const { return rope_table_; }

 private:
  LlamaModel(const ModelConfig& config, ModelWeights weights, Backend& backend,
             const KvStorageOptions& kv);
  absl::Status AllocateKvStorage();

  ModelConfig config_;
  ModelWeights weights_;
  Backend& backend_;
  KvStorageOptions kv_options_;
  Buffer kv_buffer_;
  std::vector<KvLayer> kv_layers_;
  Buffer rope_buffer_;
  Tensor rope_table_;  // [max_position_embeddings, head_dim] F32
  std::array<Buffer, kMaxScratchSlots> scratch_;
  std::array<Buffer, 4> metadata_;
  uint64_t memory_generation_ = 0;
  std::vector<char> staging_;  // host side of Upload
};

}  // namespace tspserve
