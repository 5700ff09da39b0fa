#include "models/weights.h"

#include <unistd.h>

#include <cmath>
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
  size_t size() const { return offset_; }
  // Views of every region of a packed shard laid out at `base`.
  std::vector<Tensor> Views(void* base, Device device) const {
    std::vector<Tensor> views;
    for (const Region& r : regions_) {
      void* data = static_cast<char*>(base) + r.offset;
      views.push_back(r.cols == 0 ? Tensor(data, dtype_, {r.rows}, device)
                                  : Tensor(data, dtype_, {r.rows, r.cols}, device));
    }
    return views;
  }
  absl::StatusOr<Buffer> Upload(Backend& backend, std::vector<Tensor>* views) {
    if (staging_.size() != offset_) staging_.assign(offset_, 0);
    ASSIGN_OR_RETURN(Buffer buffer, backend.Allocate(offset_, MemoryKind::kWeights));
    backend.CopyFromHost(buffer.AsTensor(DType::kU8, {static_cast<int64_t>(offset_)}), staging_.data());
    *views = Views(buffer.data(), buffer.device());
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

// The regions of a packed attention shard; the same arithmetic on every rank, so any rank can
// view any rank's shard (the broadcast schedule receives them into scratch memory).
struct AttentionPlan {
  PackedShard packed;
  int qkv, o, bias = -1, o_bias = -1, q_norm = -1, k_norm = -1;

  AttentionPlan(const ModelConfig& c, const ShardLayout& layout, DType dtype) : packed(dtype) {
    const int64_t d = c.head_dim, h = c.hidden_size;
    const int64_t q = layout.q_heads.size() * d, kv = layout.kv_heads.size() * d;
    qkv = packed.Add(q + 2 * kv, h);
    o = packed.Add(h, q);
    if (c.attention_bias) bias = packed.Add(q + 2 * kv);
    if (c.o_proj_bias && layout.spec.rank == 0) o_bias = packed.Add(h);
    if (c.qk_norm) {
      q_norm = packed.Add(d);
      k_norm = packed.Add(d);
    }
  }
  AttentionShardWeights Weights(const std::vector<Tensor>& views) const {
    auto at = [&](int i) { return i < 0 ? Tensor() : views[static_cast<size_t>(i)]; };
    return {at(qkv), at(bias), at(o), at(o_bias), at(q_norm), at(k_norm)};
  }
};

struct MlpPlan {
  PackedShard packed;
  int gate_up, down;

  MlpPlan(const ModelConfig& c, const ShardLayout& layout, DType dtype) : packed(dtype) {
    gate_up = packed.Add(2 * layout.intermediate.size(), c.hidden_size);
    down = packed.Add(c.hidden_size, layout.intermediate.size());
  }
  MlpShardWeights Weights(const std::vector<Tensor>& views) const {
    return {views[static_cast<size_t>(gate_up)], views[static_cast<size_t>(down)]};
  }
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
  const size_t es = element_size();
  AttentionPlan plan(config_, layout_, dtype_);
  PackedShard& packed = plan.packed;
  char* qkv_dst = static_cast<char*>(packed.Staging(plan.qkv));
  const int64_t nq = config_.num_heads * d, nkv = config_.num_kv_heads * d;
  RETURN_IF_ERROR(Rows(LayerName(i, "self_attn.q_proj.weight"), nq, h, q, qkv_dst));
  RETURN_IF_ERROR(Rows(LayerName(i, "self_attn.k_proj.weight"), nkv, h, kv,
                       qkv_dst + q.size() * h * es));
  RETURN_IF_ERROR(Rows(LayerName(i, "self_attn.v_proj.weight"), nkv, h, kv,
                       qkv_dst + (q.size() + kv.size()) * h * es));
  RETURN_IF_ERROR(Columns(LayerName(i, "self_attn.o_proj.weight"), h, nq, q, packed.Staging(plan.o)));
  if (plan.bias >= 0) {
    char* b = static_cast<char*>(packed.Staging(plan.bias));
    RETURN_IF_ERROR(Vector(LayerName(i, "self_attn.q_proj.bias"), nq, q, b));
    RETURN_IF_ERROR(Vector(LayerName(i, "self_attn.k_proj.bias"), nkv, kv, b + q.size() * es));
    RETURN_IF_ERROR(Vector(LayerName(i, "self_attn.v_proj.bias"), nkv, kv,
                           b + (q.size() + kv.size()) * es));
  }
  if (plan.o_bias >= 0) {
    RETURN_IF_ERROR(Vector(LayerName(i, "self_attn.o_proj.bias"), h, {0, h}, packed.Staging(plan.o_bias)));
  }
  if (plan.q_norm >= 0) {
    RETURN_IF_ERROR(Vector(LayerName(i, "self_attn.q_norm.weight"), d, {0, d}, packed.Staging(plan.q_norm)));
    RETURN_IF_ERROR(Vector(LayerName(i, "self_attn.k_norm.weight"), d, {0, d}, packed.Staging(plan.k_norm)));
  }
  std::vector<Tensor> views;
  ASSIGN_OR_RETURN(Buffer buffer, packed.Upload(backend, &views));
  *w = plan.Weights(views);
  return buffer;
}

absl::StatusOr<Buffer> ShardReader::MlpShard(int64_t i, Backend& backend, MlpShardWeights* w) const {
  const int64_t h = config_.hidden_size, inter = config_.intermediate_size;
  const IndexRange c = layout_.intermediate;
  MlpPlan plan(config_, layout_, dtype_);
  char* gu = static_cast<char*>(plan.packed.Staging(plan.gate_up));
  RETURN_IF_ERROR(Rows(LayerName(i, "mlp.gate_proj.weight"), inter, h, c, gu));
  RETURN_IF_ERROR(Rows(LayerName(i, "mlp.up_proj.weight"), inter, h, c,
                       gu + c.size() * h * element_size()));
  RETURN_IF_ERROR(Columns(LayerName(i, "mlp.down_proj.weight"), h, inter, c,
                          plan.packed.Staging(plan.down)));
  std::vector<Tensor> views;
  ASSIGN_OR_RETURN(Buffer buffer, plan.packed.Upload(backend, &views));
  *w = plan.Weights(views);
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

size_t AttentionShardBytes(const ModelConfig& config, const ShardLayout& layout, DType dtype) {
  return AttentionPlan(config, layout, dtype).packed.size();
}

AttentionShardWeights AttentionShardViews(const ModelConfig& config, const ShardLayout& layout,
                                          DType dtype, void* base, Device device) {
  const AttentionPlan plan(config, layout, dtype);
  return plan.Weights(plan.packed.Views(base, device));
}

size_t MlpShardBytes(const ModelConfig& config, const ShardLayout& layout, DType dtype) {
  return MlpPlan(config, layout, dtype).packed.size();
}

MlpShardWeights MlpShardViews(const ModelConfig& config, const ShardLayout& layout, DType dtype,
                              void* base, Device device) {
  const MlpPlan plan(config, layout, dtype);
  return plan.Weights(plan.packed.Views(base, device));
}

namespace {

// Allocates a packed shard's buffer and fills it (padding included) with FillRandom.
absl::StatusOr<Buffer> RandomPacked(const PackedShard& packed, Backend& backend, uint64_t seed,
                                    float scale, std::vector<Tensor>* views) {
  ASSIGN_OR_RETURN(Buffer buffer, backend.Allocate(packed.size(), MemoryKind::kWeights));
  const int64_t elements = static_cast<int64_t>(packed.size() / DTypeSize(backend.compute_dtype()));
  backend.FillRandom(buffer.AsTensor(backend.compute_dtype(), {elements}), seed, scale);
  *views = packed.Views(buffer.data(), buffer.device());
  return buffer;
}

}  // namespace

absl::StatusOr<ModelWeights> MakeRandomWeights(const ModelConfig& config, const ShardLayout& layout,
                                               Backend& backend, uint64_t seed) {
  const DType dtype = backend.compute_dtype();
  const float scale = 1.0f / std::sqrt(static_cast<float>(config.hidden_size));
  // Distinct seeds per region and rank: weights look independent, as a real checkpoint's do.
  uint64_t stream = seed * 1000003 + static_cast<uint64_t>(layout.spec.rank) * 7919;
  ModelWeights weights;
  weights.layout = layout;
  std::vector<Tensor> views;
  for (int64_t i = 0; i < config.num_layers; ++i) {
    LayerWeights layer;
    const AttentionPlan attention(config, layout, dtype);
    ASSIGN_OR_RETURN(layer.attention_buffer, RandomPacked(attention.packed, backend, ++stream, scale, &views));
    layer.attention = attention.Weights(views);
    const MlpPlan mlp(config, layout, dtype);
    ASSIGN_OR_RETURN(layer.mlp_buffer, RandomPacked(mlp.packed, backend, ++stream, scale, &views));
    layer.mlp = mlp.Weights(views);
    weights.layers.push_back(std::move(layer));
  }
  PackedShard norms(dtype);
  for (int64_t i = 0; i < 2 * config.num_layers + 1; ++i) norms.Add(config.hidden_size);
  ASSIGN_OR_RETURN(weights.norms_buffer, RandomPacked(norms, backend, ++stream, 1.0f, &views));
  for (size_t i = 0; i < weights.layers.size(); ++i) {
    weights.layers[i].input_norm = views[2 * i];
    weights.layers[i].post_attention_norm = views[2 * i + 1];
  }
  weights.final_norm = views.back();
  PackedShard vocab(dtype);
  vocab.Add(layout.vocab.size(), config.hidden_size);
  ASSIGN_OR_RETURN(weights.embedding_buffer, RandomPacked(vocab, backend, ++stream, scale, &views));
  weights.embedding = views[0];
  if (config.tie_word_embeddings) {
    weights.lm_head = weights.embedding;
  } else {
    ASSIGN_OR_RETURN(weights.lm_head_buffer, RandomPacked(vocab, backend, ++stream, scale, &views));
    weights.lm_head = views[0];
  }
  return weights;
}

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
