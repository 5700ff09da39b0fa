#include "models/llama_model.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/common/check.h"
#include "engine/common/status.h"
#include "models/rope.h"

namespace tspserve {
namespace {

size_t Align(size_t bytes) { return (bytes + 255) / 256 * 256; }

// Carves consecutive tensors out of one buffer.
class Carver {
 public:
  explicit Carver(const Buffer& buffer) : buffer_(buffer) {}
  Tensor Take(DType dtype, std::initializer_list<int64_t> shape) {
    Tensor t = buffer_.AsTensor(dtype, shape, offset_);
    offset_ += Align(t.nbytes());
    return t;
  }

 private:
  const Buffer& buffer_;
  size_t offset_ = 0;
};

template <typename T>
size_t ArrayBytes(const std::vector<T>& v) { return Align(std::max<size_t>(v.size(), 1) * sizeof(T)); }

}  // namespace

int64_t LlamaModel::BytesPerKvBlock(const ModelConfig& config, int32_t block_size, DType dtype) {
  return 2 * config.num_layers * block_size * config.num_kv_heads * config.head_dim *
         static_cast<int64_t>(DTypeSize(dtype));
}

LlamaModel::LlamaModel(const ModelConfig& config, ModelWeights weights, Backend& backend,
                 const KvStorageOptions& kv)
    : config_(config), weights_(std::move(weights)), backend_(backend), kv_options_(kv) {
  const ShardLayout& layout = weights_.layout;
  attention_shape_.num_q_heads = static_cast<int32_t>(layout.q_heads.size());
  attention_shape_.q_head_offset = static_cast<int32_t>(layout.q_heads.begin);
  attention_shape_.group_size = static_cast<int32_t>(layout.group_size);
  attention_shape_.num_kv_heads = static_cast<int32_t>(config.num_kv_heads);
  attention_shape_.head_dim = static_cast<int32_t>(config.head_dim);
  attention_shape_.scale = 1.0f / std::sqrt(static_cast<float>(config.head_dim));
  attention_shape_.sliding_window = static_cast<int32_t>(config.sliding_window.value_or(0));
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Create(const ModelConfig& config,
                                                         ModelWeights weights, Backend& backend,
                                                         const KvStorageOptions& kv) {
  if (kv.num_blocks <= 0 || kv.block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("KV cache needs positive num_blocks and block_size, got ",
                                                   kv.num_blocks, " and ", kv.block_size));
  }
  std::unique_ptr<LlamaModel> decoder(new LlamaModel(config, std::move(weights), backend, kv));
  RETURN_IF_ERROR(decoder->AllocateKvStorage());
  const std::vector<float> table = RopeCosSinTable(config, config.max_position_embeddings);
  ASSIGN_OR_RETURN(decoder->rope_buffer_, backend.Allocate(table.size() * sizeof(float),
                                                           MemoryKind::kWorkspace));
  decoder->rope_table_ = decoder->rope_buffer_.AsTensor(
      DType::kF32, {config.max_position_embeddings, config.head_dim});
  backend.CopyFromHost(decoder->rope_table_, table.data());
  return decoder;
}

absl::Status LlamaModel::AllocateKvStorage() {
  const DType dtype = backend_.compute_dtype();
  const int64_t per_layer_half = BytesPerKvBlock(config_, kv_options_.block_size, dtype) /
                                 (2 * config_.num_layers) * kv_options_.num_blocks;
  ASSIGN_OR_RETURN(kv_buffer_, backend_.Allocate(static_cast<size_t>(2 * config_.num_layers *
                                                                     per_layer_half),
                                                 MemoryKind::kKvCache));
  for (int64_t l = 0; l < config_.num_layers; ++l) {
    auto view = [&](int64_t half) {
      return kv_buffer_.AsTensor(dtype,
                                 {kv_options_.num_blocks, kv_options_.block_size,
                                  config_.num_kv_heads, config_.head_dim},
                                 static_cast<size_t>((2 * l + half) * per_layer_half));
    };
    kv_layers_.push_back({view(0), view(1)});
  }
  return absl::OkStatus();
}

absl::Status LlamaModel::EnsureActivations(int32_t num_tokens, int32_t num_logit_rows) {
  if (num_tokens <= activation_tokens_ && num_logit_rows <= activation_rows_) return absl::OkStatus();
  const int32_t t = std::max(num_tokens, activation_tokens_);
  const int32_t r = std::max(num_logit_rows, activation_rows_);
  const DType dt = backend_.compute_dtype();
  const int64_t h = config_.hidden_size, d = config_.head_dim;
  const MlpShardWeights& mlp = weights_.layers[0].mlp;
  const int64_t qkv_cols = weights_.layers[0].attention.qkv.dim(0);
  const int64_t q_cols = attention_shape_.num_q_heads * d;
  const int64_t inter = mlp.down.dim(1);
  const int64_t vocab_rows = weights_.lm_head.dim(0);
  const size_t es = DTypeSize(dt);
  const size_t bytes = Align(t * h * es) * 4 + Align(t * qkv_cols * es) + Align(t * q_cols * es) +
                       Align(t * 2 * inter * es) + Align(t * inter * es) + Align(r * h * es) +
                       Align(r * vocab_rows * es);
  activation_buffer_.Reset();
  ASSIGN_OR_RETURN(activation_buffer_, backend_.Allocate(bytes, MemoryKind::kActivations));
  Carver c(activation_buffer_);
  residual_ = c.Take(dt, {t, h});
  normed_ = c.Take(dt, {t, h});
  block_out_ = c.Take(dt, {t, h});
  c.Take(dt, {t, h});  // spare row block keeps the layout simple for strided schedules
  qkv_ = c.Take(dt, {t, qkv_cols});
  attn_out_ = c.Take(dt, {t, q_cols});
  gate_up_ = c.Take(dt, {t, 2 * inter});
  mlp_act_ = c.Take(dt, {t, inter});
  last_hidden_ = c.Take(dt, {r, h});
  logits_ = c.Take(dt, {r, vocab_rows});
  activation_tokens_ = t;
  activation_rows_ = r;
  return absl::OkStatus();
}

absl::Status LlamaModel::UploadMetadata(const ForwardBatch& b) {
  const size_t bytes = ArrayBytes(b.token_ids) + ArrayBytes(b.positions) +
                       ArrayBytes(b.slot_mapping) + ArrayBytes(b.query_start) +
                       ArrayBytes(b.page_start) + ArrayBytes(b.page_block) +
                       ArrayBytes(b.page_first_position) + ArrayBytes(b.page_num_tokens) +
                       ArrayBytes(b.logit_rows);
  if (metadata_buffer_.size() < bytes) {
    metadata_buffer_.Reset();
    ASSIGN_OR_RETURN(metadata_buffer_, backend_.Allocate(bytes * 2, MemoryKind::kWorkspace));
  }
  Carver c(metadata_buffer_);
  auto upload = [&](const auto& v, DType dtype) {
    Tensor t = c.Take(dtype, {static_cast<int64_t>(v.size())});
    if (!v.empty()) backend_.CopyFromHost(t, v.data());
    return t;
  };
  token_ids_ = upload(b.token_ids, DType::kI32);
  meta_.query_positions = upload(b.positions, DType::kI32);
  meta_.slot_mapping = upload(b.slot_mapping, DType::kI64);
  meta_.query_start = upload(b.query_start, DType::kI32);
  meta_.page_start = upload(b.page_start, DType::kI32);
  meta_.page_block = upload(b.page_block, DType::kI32);
  meta_.page_first_position = upload(b.page_first_position, DType::kI32);
  meta_.page_num_tokens = upload(b.page_num_tokens, DType::kI32);
  logit_rows_ = upload(b.logit_rows, DType::kI32);
  meta_.num_seqs = b.num_seqs();
  meta_.num_tokens = b.num_tokens();
  meta_.max_query_len = 0;
  meta_.max_pages = 0;
  for (int32_t s = 0; s < b.num_seqs(); ++s) {
    meta_.max_query_len = std::max(meta_.max_query_len, b.query_start[s + 1] - b.query_start[s]);
    meta_.max_pages = std::max(meta_.max_pages, b.page_start[s + 1] - b.page_start[s]);
  }
  return absl::OkStatus();
}

void LlamaModel::AttentionBlock(int64_t layer, const Tensor& normed, const Tensor& out) {
  const AttentionShardWeights& w = weights_.layers[static_cast<size_t>(layer)].attention;
  const int64_t t = normed.dim(0), d = config_.head_dim;
  const int64_t q_cols = attention_shape_.num_q_heads * d;
  const int64_t kv_cols = weights_.layout.kv_heads.size() * d;
  const Tensor qkv = qkv_.Slice(0, t);
  backend_.MatMul(normed, w.qkv, qkv, /*accumulate=*/false);
  if (!w.qkv_bias.empty()) backend_.AddBias(qkv, w.qkv_bias);
  const Tensor q = qkv.Columns(0, q_cols);
  const Tensor k = qkv.Columns(q_cols, q_cols + kv_cols);
  const Tensor v = qkv.Columns(q_cols + kv_cols, q_cols + 2 * kv_cols);
  const float eps = static_cast<float>(config_.rms_norm_eps);
  if (!w.q_norm.empty()) {
    backend_.RmsNorm(q, w.q_norm, eps, q);
    backend_.RmsNorm(k, w.k_norm, eps, k);
  }
  backend_.Rope(q, static_cast<int32_t>(d), meta_.query_positions, rope_table_);
  backend_.Rope(k, static_cast<int32_t>(d), meta_.query_positions, rope_table_);
  const KvLayer& cache = kv_layers_[static_cast<size_t>(layer)];
  backend_.WriteKv(k, v, meta_.slot_mapping, cache,
                   static_cast<int32_t>(weights_.layout.kv_heads.begin));
  const Tensor attn = attn_out_.Slice(0, t);
  backend_.Attention(q, cache, meta_, attention_shape_, attn, Tensor());
  backend_.MatMul(attn, w.o, out, /*accumulate=*/false);
  if (!w.o_bias.empty()) backend_.AddBias(out, w.o_bias);
}

void LlamaModel::MlpBlock(int64_t layer, const Tensor& normed, const Tensor& out) {
  const MlpShardWeights& w = weights_.layers[static_cast<size_t>(layer)].mlp;
  const int64_t t = normed.dim(0);
  const Tensor gate_up = gate_up_.Slice(0, t);
  const Tensor act = mlp_act_.Slice(0, t);
  backend_.MatMul(normed, w.gate_up, gate_up, /*accumulate=*/false);
  backend_.SiluMul(gate_up, act);
  backend_.MatMul(act, w.down, out, /*accumulate=*/false);
}

absl::StatusOr<std::vector<float>> LlamaModel::Forward(const ForwardBatch& batch) {
  const int32_t t = batch.num_tokens();
  const int32_t r = static_cast<int32_t>(batch.logit_rows.size());
  if (t == 0) return std::vector<float>();
  for (int32_t p : batch.positions) {
    if (p < 0 || p >= config_.max_position_embeddings) {
      return absl::OutOfRangeError(absl::StrCat("position ", p, " is outside the model's context of ",
                                                config_.max_position_embeddings, " tokens"));
    }
  }
  RETURN_IF_ERROR(EnsureActivations(t, r));
  RETURN_IF_ERROR(UploadMetadata(batch));
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const Tensor x = residual_.Slice(0, t), h = normed_.Slice(0, t), y = block_out_.Slice(0, t);
  backend_.Embedding(token_ids_, weights_.embedding, weights_.layout.vocab.begin, x);
  for (int64_t l = 0; l < config_.num_layers; ++l) {
    const LayerWeights& lw = weights_.layers[static_cast<size_t>(l)];
    if (l == 0) {
      backend_.RmsNorm(x, lw.input_norm, eps, h);
    } else {
      backend_.AddRmsNorm(x, y, lw.input_norm, eps, h);
    }
    AttentionBlock(l, h, y);
    backend_.AddRmsNorm(x, y, lw.post_attention_norm, eps, h);
    MlpBlock(l, h, y);
  }
  backend_.AddRmsNorm(x, y, weights_.final_norm, eps, h);
  std::vector<float> logits;
  if (r == 0) return logits;
  const Tensor last = last_hidden_.Slice(0, r), out = logits_.Slice(0, r);
  backend_.GatherRows(h, logit_rows_, last);
  backend_.MatMul(last, weights_.lm_head, out, /*accumulate=*/false);
  std::vector<float> padded(static_cast<size_t>(out.numel()));
  backend_.DownloadFloat(padded.data(), out);
  const int64_t vocab_rows = out.dim(1);
  const int64_t v = config_.vocab_size;
  logits.resize(static_cast<size_t>(r * v));
  for (int32_t i = 0; i < r; ++i) {
    std::copy_n(padded.data() + i * vocab_rows, v, logits.data() + i * v);
  }
  return logits;
}

void LlamaModel::CopyBlocks(std::span<const BlockCopyOp> copies) {
  if (!copies.empty()) backend_.CopyBlocks(kv_layers_, copies);
}

}  // namespace tspserve
