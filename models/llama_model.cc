#include "models/llama_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/common/check.h"
#include "engine/common/status.h"
#include "models/rope.h"

namespace tspserve {
namespace {

size_t Align(size_t bytes) { return (bytes + 255) / 256 * 256; }

template <typename T>
size_t ArrayBytes(const std::vector<T>& v) {
  return Align(std::max<size_t>(v.size(), 1) * sizeof(T));
}

}  // namespace

int64_t LlamaModel::BytesPerKvBlock(const ModelConfig& config, int32_t block_size,
                                    int64_t num_kv_heads, DType dtype) {
  return 2 * config.num_layers * block_size * num_kv_heads * config.head_dim *
         static_cast<int64_t>(DTypeSize(dtype));
}

LlamaModel::LlamaModel(const ModelConfig& config, ModelWeights weights, Backend& backend,
                       const KvStorageOptions& kv)
    : config_(config), weights_(std::move(weights)), backend_(backend), kv_options_(kv) {
  if (kv_options_.kv_heads.size() == 0) kv_options_.kv_heads = {0, config.num_kv_heads};
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Create(const ModelConfig& config,
                                                               ModelWeights weights,
                                                               Backend& backend,
                                                               const KvStorageOptions& kv) {
  if (kv.num_blocks <= 0 || kv.block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV cache needs positive num_blocks and block_size, got ", kv.num_blocks, " and ",
        kv.block_size));
  }
  std::unique_ptr<LlamaModel> model(new LlamaModel(config, std::move(weights), backend, kv));
  RETURN_IF_ERROR(model->AllocateKvStorage());
  const std::vector<float> table = RopeCosSinTable(config, config.max_position_embeddings);
  ASSIGN_OR_RETURN(model->rope_buffer_,
                   backend.Allocate(table.size() * sizeof(float), MemoryKind::kWorkspace));
  model->rope_table_ = model->rope_buffer_.AsTensor(
      DType::kF32, {config.max_position_embeddings, config.head_dim});
  backend.CopyFromHost(model->rope_table_, table.data());
  return model;
}

absl::Status LlamaModel::AllocateKvStorage() {
  const DType dtype = backend_.compute_dtype();
  const int64_t heads = kv_options_.kv_heads.size();
  const int64_t half_layer = BytesPerKvBlock(config_, kv_options_.block_size, heads, dtype) /
                             (2 * config_.num_layers) * kv_options_.num_blocks;
  ASSIGN_OR_RETURN(kv_buffer_, backend_.Allocate(static_cast<size_t>(2 * config_.num_layers * half_layer),
                                                 MemoryKind::kKvCache));
  for (int64_t l = 0; l < config_.num_layers; ++l) {
    auto view = [&](int64_t half) {
      return kv_buffer_.AsTensor(dtype, {kv_options_.num_blocks, kv_options_.block_size, heads,
                                         config_.head_dim},
                                 static_cast<size_t>((2 * l + half) * half_layer));
    };
    kv_layers_.push_back({view(0), view(1)});
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> LlamaModel::Scratch(int slot, DType dtype, int64_t rows, int64_t cols,
                                           MemoryKind kind) {
  CHECK(slot >= 0 && slot < kMaxScratchSlots) << "scratch slot " << slot;
  const size_t bytes = static_cast<size_t>(rows * cols) * DTypeSize(dtype);
  Buffer& buffer = scratch_[static_cast<size_t>(slot)];
  if (buffer.size() < bytes) {
    buffer.Reset();
    ++memory_generation_;
    ASSIGN_OR_RETURN(buffer, backend_.Allocate(std::max<size_t>(bytes, 256), kind));
  }
  return buffer.AsTensor(dtype, {rows, cols});
}

void LlamaModel::ReleaseStepMemory() {
  for (Buffer& b : scratch_) b.Reset();
  for (Buffer& b : metadata_) b.Reset();
  ++memory_generation_;
}

absl::StatusOr<UploadedBatch> LlamaModel::Upload(int slot, const ForwardBatch& b,
                                                 const FixedUploadShapes* fixed) {
  const int64_t pages = static_cast<int64_t>(b.page_first_slot.size());
  if (fixed != nullptr && pages > fixed->pages) {
    return absl::InvalidArgumentError(absl::StrCat(pages, " pages exceed the fixed room for ", fixed->pages));
  }
  // Every array is staged back to back on the host and crosses to the device in one copy; with
  // fixed shapes the page arrays each take room for fixed->pages entries.
  const size_t page_room = sizeof(int32_t) * static_cast<size_t>(fixed != nullptr ? fixed->pages : pages);
  const size_t bytes = ArrayBytes(b.token_ids) + ArrayBytes(b.positions) + ArrayBytes(b.slot_mapping) +
                       ArrayBytes(b.query_start) + ArrayBytes(b.page_start) + ArrayBytes(b.logit_rows) +
                       3 * page_room;
  Buffer& buffer = metadata_[static_cast<size_t>(slot)];
  if (buffer.size() < bytes) {
    buffer.Reset();
    ++memory_generation_;
    ASSIGN_OR_RETURN(buffer, backend_.Allocate(bytes * 2, MemoryKind::kWorkspace));
  }
  staging_.resize(bytes);
  size_t offset = 0;
  auto upload = [&](const auto& v, DType dtype, size_t room) {
    Tensor t = buffer.AsTensor(dtype, {static_cast<int64_t>(v.size())}, offset);
    if (!v.empty()) std::memcpy(staging_.data() + offset, v.data(), v.size() * sizeof(v[0]));
    offset += room;
    return t;
  };
  UploadedBatch up;
  up.token_ids = upload(b.token_ids, DType::kI32, ArrayBytes(b.token_ids));
  up.meta.query_positions = upload(b.positions, DType::kI32, ArrayBytes(b.positions));
  up.meta.slot_mapping = upload(b.slot_mapping, DType::kI64, ArrayBytes(b.slot_mapping));
  up.meta.query_start = upload(b.query_start, DType::kI32, ArrayBytes(b.query_start));
  up.meta.page_start = upload(b.page_start, DType::kI32, ArrayBytes(b.page_start));
  up.logit_rows = upload(b.logit_rows, DType::kI32, ArrayBytes(b.logit_rows));
  up.meta.page_first_slot = upload(b.page_first_slot, DType::kI32, page_room);
  up.meta.page_first_position = upload(b.page_first_position, DType::kI32, page_room);
  up.meta.page_num_tokens = upload(b.page_num_tokens, DType::kI32, page_room);
  backend_.CopyFromHost(buffer.AsTensor(DType::kU8, {static_cast<int64_t>(bytes)}), staging_.data());
  up.meta.num_seqs = b.num_seqs();
  up.meta.num_tokens = b.num_tokens();
  for (int32_t s = 0; s < b.num_seqs(); ++s) {
    up.meta.max_query_len = std::max(up.meta.max_query_len, b.query_start[s + 1] - b.query_start[s]);
    up.meta.max_pages = std::max(up.meta.max_pages, b.page_start[s + 1] - b.page_start[s]);
  }
  up.meta.max_keys = b.max_keys();
  if (fixed != nullptr) {
    if (up.meta.max_pages > fixed->max_pages || up.meta.max_keys > fixed->max_keys) {
      return absl::InvalidArgumentError(absl::StrCat("a sequence's ", up.meta.max_pages, " pages and ", up.meta.max_keys,
                                                     " keys exceed the fixed ", fixed->max_pages, " and ", fixed->max_keys));
    }
    up.meta.max_pages = fixed->max_pages;
    up.meta.max_keys = fixed->max_keys;
  }
  return up;
}

QkvViews LlamaModel::ProjectQkv(const AttentionShardWeights& w, const ShardLayout& shard,
                                const Tensor& x, const Tensor& positions, const Tensor& qkv) {
  const int64_t d = config_.head_dim;
  const int64_t q_cols = shard.q_heads.size() * d, kv_cols = shard.kv_heads.size() * d;
  backend_.MatMul(x, w.qkv, qkv, /*accumulate=*/false);
  if (!w.qkv_bias.empty()) backend_.AddBias(qkv, w.qkv_bias);
  QkvViews views{qkv.Columns(0, q_cols), qkv.Columns(q_cols, q_cols + kv_cols),
                 qkv.Columns(q_cols + kv_cols, q_cols + 2 * kv_cols)};
  if (!w.q_norm.empty()) {
    backend_.RmsNorm(views.q, w.q_norm, rms_norm_eps(), views.q);
    backend_.RmsNorm(views.k, w.k_norm, rms_norm_eps(), views.k);
  }
  backend_.Rope(views.q, static_cast<int32_t>(d), positions, rope_table_);
  backend_.Rope(views.k, static_cast<int32_t>(d), positions, rope_table_);
  return views;
}

AttentionShape LlamaModel::ShapeFor(const ShardLayout& shard, IndexRange cached) const {
  AttentionShape shape;
  shape.num_q_heads = static_cast<int32_t>(shard.q_heads.size());
  shape.group_size = static_cast<int32_t>(shard.group_size);
  // Head h of this shard reads cache head (q_heads.begin + h) / group - cached.begin.
  shape.q_head_offset = static_cast<int32_t>(shard.q_heads.begin - cached.begin * shard.group_size);
  shape.num_kv_heads = static_cast<int32_t>(cached.size());
  shape.head_dim = static_cast<int32_t>(config_.head_dim);
  shape.scale = 1.0f / std::sqrt(static_cast<float>(config_.head_dim));
  shape.sliding_window = static_cast<int32_t>(config_.sliding_window.value_or(0));
  return shape;
}

void LlamaModel::Mlp(const MlpShardWeights& w, const Tensor& x, const Tensor& gate_up,
                     const Tensor& act, const Tensor& out, bool accumulate) {
  const int64_t t = x.dim(0), chunk = gate_up.dim(0);
  CHECK(act.dim(0) == chunk && (chunk >= 1 || t == 0)) << "Mlp scratch of " << chunk << " rows";
  for (int64_t begin = 0; begin < t; begin += chunk) {
    const int64_t rows = std::min(chunk, t - begin);
    const Tensor g = gate_up.Slice(0, rows), a = act.Slice(0, rows);
    backend_.MatMul(x.Slice(begin, begin + rows), w.gate_up, g, /*accumulate=*/false);
    backend_.SiluMul(g, a);
    backend_.MatMul(a, w.down, out.Slice(begin, begin + rows), accumulate);
  }
}

void LlamaModel::CopyBlocks(std::span<const BlockCopyOp> copies) {
  if (!copies.empty()) backend_.CopyBlocks(kv_layers_, copies);
}

}  // namespace tspserve
