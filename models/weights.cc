#include "models/weights.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/common/check.h"
#include "engine/common/status.h"
#include "models/checkpoint/load_progress.h"

namespace tspserve {
namespace {

// Lays several tensors out back to back in one host staging area, then uploads them as one
// device buffer: the packed shard.
class PackedShard {
 public:
  explicit PackedShard(DType dtype) : dtype_(dtype) {}

  // Reserves a [rows, cols] (cols == 0: a vector of `rows`) region; returns its index. Every
  // region is added before the first Staging() call.
  int Add(int64_t rows, int64_t cols = 0) {
    CHECK(staging_.empty()) << "PackedShard::Add after staging began";
    const int64_t count = cols == 0 ? rows : rows * cols;
    regions_.push_back({offset_, rows, cols});
    offset_ += (static_cast<size_t>(count) * DTypeSize(dtype_) + 255) / 256 * 256;
    return static_cast<int>(regions_.size()) - 1;
  }
  void* Staging(int index) {
    if (staging_.size() != offset_) staging_.assign(offset_, 0);
    return staging_.data() + regions_[static_cast<size_t>(index)].offset;
  }
  absl::StatusOr<Buffer> Upload(Backend& backend, std::vector<Tensor>* views) {
    if (staging_.size() != offset_) staging_.assign(offset_, 0);
    ASSIGN_OR_RETURN(Buffer buffer, backend.Allocate(offset_, MemoryKind::kWeights));
    backend.CopyFromHost(buffer.AsTensor(DType::kU8, {static_cast<int64_t>(offset_)}), staging_.data());
    views->clear();
    for (const Region& r : regions_) {
      views->push_back(r.cols == 0 ? buffer.AsTensor(dtype_, {r.rows}, r.offset)
                                   : buffer.AsTensor(dtype_, {r.rows, r.cols}, r.offset));
    }
    return buffer;
  }

 private:
  struct Region {
    size_t offset;
    int64_t rows;
    int64_t cols;
  };
  DType dtype_;
  size_t offset_ = 0;
  std::vector<Region> regions_;
  std::vector<char> staging_;
};

std::string LayerName(int64_t layer, std::string_view suffix) {
  return absl::StrCat("model.layers.", layer, ".", std::string(suffix));
}

class ShardReader {
 public:
  ShardReader(const Checkpoint& checkpoint, const ModelConfig& config, const ShardLayout& layout,
              DType dtype)
      : ckpt_(checkpoint), config_(config), layout_(layout), dtype_(dtype) {}

  // Rows [begin, end) of a [total_rows, cols] tensor, after checking its full shape.
  absl::Status Rows(const std::string& name, int64_t total_rows, int64_t cols, IndexRange rows,
                    void* dst) const {
    RETURN_IF_ERROR(ckpt_.ExpectShape(name, {total_rows, cols}));
    return ckpt_.ReadRows(name, rows.begin, rows.end, dtype_, dst);
  }
  absl::Status Columns(const std::string& name, int64_t rows, int64_t total_cols, IndexRange cols,
                       void* dst) const {
    RETURN_IF_ERROR(ckpt_.ExpectShape(name, {rows, total_cols}));
    return ckpt_.ReadColumns(name, cols.begin, cols.end, dtype_, dst);
  }
  absl::Status Vector(const std::string& name, int64_t size, IndexRange part, void* dst) const {
    RETURN_IF_ERROR(ckpt_.ExpectShape(name, {size}));
    return ckpt_.ReadRows(name, part.begin, part.end, dtype_, dst);
  }

  absl::StatusOr<LayerWeights> Layer(int64_t i, Backend& backend) const;
  absl::Status Norms(ModelWeights& weights, Backend& backend) const;
  absl::StatusOr<Buffer> VocabRows(const std::string& name, Backend& backend, Tensor* view) const;

 private:
  size_t element_size() const { return DTypeSize(dtype_); }
  absl::StatusOr<Buffer> AttentionShard(int64_t i, Backend& backend, AttentionShardWeights* w) const;
  absl::StatusOr<Buffer> MlpShard(int64_t i, Backend& backend, MlpShardWeights* w) const;

  const Checkpoint& ckpt_;
  const ModelConfig& config_;
  const ShardLayout& layout_;
  DType dtype_;
};

IndexRange Scaled(IndexRange r, int64_t factor) { return {r.begin * factor, r.end * factor}; }

absl::StatusOr<Buffer> ShardReader::AttentionShard(int64_t i, Backend& backend,
                                                   AttentionShardWeights* w) const {
  const int64_t d = config_.head_dim, h = config_.hidden_size;
  const IndexRange q = Scaled(layout_.q_heads, d), kv = Scaled(layout_.kv_heads, d);
  const int64_t qkv_rows = q.size() + 2 * kv.size();
  const size_t es = element_size();
  PackedShard packed(dtype_);
  const int qkv = packed.Add(qkv_rows, h);
  const int o = packed.Add(h, q.size());
  const int bias = config_.attention_bias ? packed.Add(qkv_rows) : -1;
  const int o_bias = config_.o_proj_bias && layout_.spec.rank == 0 ? packed.Add(h) : -1;
  const int q_norm = config_.qk_norm ? packed.Add(d) : -1;
  const int k_norm = config_.qk_norm ? packed.Add(d) : -1;

  char* qkv_dst = static_cast<char*>(packed.Staging(qkv));
  const int64_t nq = config_.num_heads * d, nkv = config_.num_kv_heads * d;
  RETURN_IF_ERROR(Rows(LayerName(i, "self_attn.q_proj.weight"), nq, h, q, qkv_dst));
  RETURN_IF_ERROR(Rows(LayerName(i, "self_attn.k_proj.weight"), nkv, h, kv,
                       qkv_dst + q.size() * h * es));
  RETURN_IF_ERROR(Rows(LayerName(i, "self_attn.v_proj.weight"), nkv, h, kv,
                       qkv_dst + (q.size() + kv.size()) * h * es));
  RETURN_IF_ERROR(Columns(LayerName(i, "self_attn.o_proj.weight"), h, nq, q, packed.Staging(o)));
  if (bias >= 0) {
    char* b = static_cast<char*>(packed.Staging(bias));
    RETURN_IF_ERROR(Vector(LayerName(i, "self_attn.q_proj.bias"), nq, q, b));
    RETURN_IF_ERROR(Vector(LayerName(i, "self_attn.k_proj.bias"), nkv, kv, b + q.size() * es));
    RETURN_IF_ERROR(Vector(LayerName(i, "self_attn.v_proj.bias"), nkv, kv,
                           b + (q.size() + kv.size()) * es));
  }
  if (o_bias >= 0) {
    RETURN_IF_ERROR(Vector(LayerName(i, "self_attn.o_proj.bias"), h, {0, h}, packed.Staging(o_bias)));
  }
  if (q_norm >= 0) {
    RETURN_IF_ERROR(Vector(LayerName(i, "self_attn.q_norm.weight"), d, {0, d}, packed.Staging(q_norm)));
    RETURN_IF_ERROR(Vector(LayerName(i, "self_attn.k_norm.weight"), d, {0, d}, packed.Staging(k_norm)));
  }
  std::vector<Tensor> views;
  ASSIGN_OR_RETURN(Buffer buffer, packed.Upload(backend, &views));
  w->qkv = views[static_cast<size_t>(qkv)];
  w->o = views[static_cast<size_t>(o)];
  if (bias >= 0) w->qkv_bias = views[static_cast<size_t>(bias)];
  if (o_bias >= 0) w->o_bias = views[static_cast<size_t>(o_bias)];
  if (q_norm >= 0) {
    w->q_norm = views[static_cast<size_t>(q_norm)];
    w->k_norm = views[static_cast<size_t>(k_norm)];
  }
  return buffer;
}

absl::StatusOr<Buffer> ShardReader::MlpShard(int64_t i, Backend& backend, MlpShardWeights* w) const {
  const int64_t h = config_.hidden_size, inter = config_.intermediate_size;
  const IndexRange c = layout_.intermediate;
  PackedShard packed(dtype_);
  const int gate_up = packed.Add(2 * c.size(), h);
  const int down = packed.Add(h, c.size());
  char* gu = static_cast<char*>(packed.Staging(gate_up));
  RETURN_IF_ERROR(Rows(LayerName(i, "mlp.gate_proj.weight"), inter, h, c, gu));
  RETURN_IF_ERROR(Rows(LayerName(i, "mlp.up_proj.weight"), inter, h, c,
                       gu + c.size() * h * element_size()));
  RETURN_IF_ERROR(Columns(LayerName(i, "mlp.down_proj.weight"), h, inter, c, packed.Staging(down)));
  std::vector<Tensor> views;
  ASSIGN_OR_RETURN(Buffer buffer, packed.Upload(backend, &views));
  w->gate_up = views[static_cast<size_t>(gate_up)];
  w->down = views[static_cast<size_t>(down)];
  return buffer;
}

absl::StatusOr<LayerWeights> ShardReader::Layer(int64_t i, Backend& backend) const {
  LayerWeights layer;
  ASSIGN_OR_RETURN(layer.attention_buffer, AttentionShard(i, backend, &layer.attention));
  ASSIGN_OR_RETURN(layer.mlp_buffer, MlpShard(i, backend, &layer.mlp));
  return layer;
}

absl::Status ShardReader::Norms(ModelWeights& weights, Backend& backend) const {
  const int64_t h = config_.hidden_size;
  PackedShard packed(dtype_);
  std::vector<std::pair<std::string, int>> norms;
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    norms.emplace_back(LayerName(i, "input_layernorm.weight"), packed.Add(h));
    norms.emplace_back(LayerName(i, "post_attention_layernorm.weight"), packed.Add(h));
  }
  norms.emplace_back("model.norm.weight", packed.Add(h));
  for (const auto& [name, region] : norms) {
    RETURN_IF_ERROR(Vector(name, h, {0, h}, packed.Staging(region)));
  }
  std::vector<Tensor> views;
  ASSIGN_OR_RETURN(weights.norms_buffer, packed.Upload(backend, &views));
  for (size_t i = 0; i < weights.layers.size(); ++i) {
    weights.layers[i].input_norm = views[2 * i];
    weights.layers[i].post_attention_norm = views[2 * i + 1];
  }
  weights.final_norm = views.back();
  return absl::OkStatus();
}

// Vocabulary rows layout.vocab of a [vocab_size, H] tensor; padding rows stay zero.
absl::StatusOr<Buffer> ShardReader::VocabRows(const std::string& name, Backend& backend,
                                              Tensor* view) const {
  const int64_t h = config_.hidden_size;
  PackedShard packed(dtype_);
  const int rows = packed.Add(layout_.vocab.size(), h);
  const IndexRange real = {std::min(layout_.vocab.begin, config_.vocab_size),
                           std::min(layout_.vocab.end, config_.vocab_size)};
  RETURN_IF_ERROR(Rows(name, config_.vocab_size, h, real, packed.Staging(rows)));
  std::vector<Tensor> views;
  ASSIGN_OR_RETURN(Buffer buffer, packed.Upload(backend, &views));
  *view = views[0];
  return buffer;
}

}  // namespace

int64_t ModelWeights::bytes() const {
  int64_t total = static_cast<int64_t>(norms_buffer.size() + embedding_buffer.size() +
                                       lm_head_buffer.size());
  for (const LayerWeights& l : layers) {
    total += static_cast<int64_t>(l.attention_buffer.size() + l.mlp_buffer.size());
  }
  return total;
}

absl::StatusOr<ModelWeights> LoadModelWeights(const Checkpoint& checkpoint, const ModelConfig& config,
                                              const ShardLayout& layout, Backend& backend,
                                              bool show_progress) {
  // This rank reads about 1/N of the checkpoint (norms aside).
  LoadProgress::Options progress_options;
  progress_options.interactive = show_progress && ::isatty(::fileno(stderr));
  LoadProgress progress(checkpoint.dir(), checkpoint.total_bytes() / layout.spec.degree,
                        progress_options);
  const int64_t bytes_before = checkpoint.bytes_read();
  ShardReader reader(checkpoint, config, layout, backend.compute_dtype());
  ModelWeights weights;
  weights.layout = layout;
  weights.layers.reserve(static_cast<size_t>(config.num_layers));
  for (int64_t i = 0; i < config.num_layers; ++i) {
    ASSIGN_OR_RETURN(LayerWeights layer, reader.Layer(i, backend));
    weights.layers.push_back(std::move(layer));
    progress.Update(checkpoint.bytes_read() - bytes_before);
  }
  RETURN_IF_ERROR(reader.Norms(weights, backend));
  ASSIGN_OR_RETURN(weights.embedding_buffer,
                   reader.VocabRows("model.embed_tokens.weight", backend, &weights.embedding));
  if (config.tie_word_embeddings) {
    weights.lm_head = weights.embedding;
  } else {
    ASSIGN_OR_RETURN(weights.lm_head_buffer,
                     reader.VocabRows("lm_head.weight", backend, &weights.lm_head));
  }
  return weights;
}

}  // namespace tspserve
