// The replicated layout of a step: every rank computes every token (see parallel_forward.h).
#include "engine/common/status.h"
#include "engine/parallel/parallel_forward.h"
#include "engine/parallel/scratch_slots.h"

namespace tspserve {

// TP (and any mode on one rank): the rank's heads over its pages, which hold every token.
absl::Status ParallelForward::AttentionHeadLocal(int64_t layer, const Tensor& x,
                                                 const UploadedBatch& up, const Tensor& out) {
  const AttentionShardWeights& w = model_.weights().layers[static_cast<size_t>(layer)].attention;
  const ShardLayout& shard = model_.layout();
  const int64_t t = x.dim(0), d = model_.config().head_dim;
  ASSIGN_OR_RETURN(Tensor qkv, model_.Scratch(kQkv, dtype_, t, w.qkv.dim(0)));
  const QkvViews v = model_.ProjectQkv(w, shard, x, up.meta.query_positions, qkv);
  const IndexRange stored = model_.stored_kv_heads();
  const KvLayer& cache = model_.kv_layer(layer);
  backend_.WriteKv(v.k, v.v, up.meta.slot_mapping, cache,
                   static_cast<int32_t>(shard.kv_heads.begin - stored.begin));
  ASSIGN_OR_RETURN(Tensor attn, model_.Scratch(kAttn, dtype_, t, shard.q_heads.size() * d));
  backend_.Attention(v.q, cache, up.meta, model_.ShapeFor(shard, stored), attn, Tensor());
  backend_.MatMul(attn, w.o, out, /*accumulate=*/false);
  if (!w.o_bias.empty()) backend_.AddBias(out, w.o_bias);
  if (config_.weights_sharded()) tensor_comm_.AllReduce(out);
  return absl::OkStatus();
}

// Exact merge of every rank's partial attention (over its own pages) for the same heads.
absl::Status ParallelForward::CombineSplitKv(const Tensor& partial, const Tensor& lse,
                                             const Tensor& out) {
  const int64_t n = sequence_comm_.size(), t = partial.dim(0);
  ASSIGN_OR_RETURN(Tensor partials, model_.Scratch(kPartialRecv, dtype_, n * t, partial.dim(1)));
  ASSIGN_OR_RETURN(Tensor lses, model_.Scratch(kLseRecv, DType::kF32, n * t, lse.dim(1)));
  sequence_comm_.AllGather(partial, partials);
  sequence_comm_.AllGather(lse, lses);
  backend_.CombineAttention(partials.View({n, t, partial.dim(1)}), lses.View({n, t, lse.dim(1)}), out);
  return absl::OkStatus();
}

// TSP decode, weights stationary (DESIGN.md 1.2): q/k/v of the rank's heads are all-gathered, the
// owner of each token's slot writes its K/V (all heads), every rank attends all heads over its own
// pages, and one all-to-all sends each head's partials to the head's owner, which combines them.
absl::Status ParallelForward::AttentionSplitKvByHead(int64_t layer, const Tensor& x,
                                                     const UploadedBatch& up, const Tensor& out) {
  const AttentionShardWeights& w = model_.weights().layers[static_cast<size_t>(layer)].attention;
  const ModelConfig& c = model_.config();
  const ShardLayout& own = model_.layout();
  const int64_t n = config_.degree, t = x.dim(0), d = c.head_dim;
  const int64_t nq = own.q_heads.size();
  ASSIGN_OR_RETURN(Tensor qkv, model_.Scratch(kQkv, dtype_, t, w.qkv.dim(0)));
  model_.ProjectQkv(w, own, x, up.meta.query_positions, qkv);  // q | k | v columns of qkv

  // q, k and v of every rank's heads in one all-gather: rank j's fused projection [T, (nq_j +
  // 2 nkv_j) D] travels as T (nq_j + 2 nkv_j) rows of D, and is unpacked into q of every query head
  // [T, Hq D] and k, v of every K/V head [T, Hkv D] (ranks' K/V head ranges may overlap).
  std::vector<int64_t> rows(static_cast<size_t>(n));
  std::vector<ShardLayout> shards;
  for (int32_t j = 0; j < n; ++j) {
    shards.push_back(ShardOf(j));
    rows[static_cast<size_t>(j)] = t * (shards.back().q_heads.size() + 2 * shards.back().kv_heads.size());
  }
  ASSIGN_OR_RETURN(Tensor recv, GatherRowsAcrossRanks(comm_, kQRecv, qkv.View({qkv.numel() / d, d}), rows));
  ASSIGN_OR_RETURN(Tensor q_all, model_.Scratch(kQAll, dtype_, t, c.num_heads * d));
  ASSIGN_OR_RETURN(Tensor k_all, model_.Scratch(kKAll, dtype_, t, c.num_kv_heads * d));
  ASSIGN_OR_RETURN(Tensor v_all, model_.Scratch(kVAll, dtype_, t, c.num_kv_heads * d));
  int64_t offset = 0;
  for (const ShardLayout& s : shards) {
    const int64_t q_cols = s.q_heads.size() * d, kv_cols = s.kv_heads.size() * d;
    const Tensor block = recv.Slice(offset, offset + t * (q_cols + 2 * kv_cols) / d).View({t, q_cols + 2 * kv_cols});
    backend_.Copy(q_all.Columns(s.q_heads.begin * d, s.q_heads.end * d), block.Columns(0, q_cols));
    backend_.Copy(k_all.Columns(s.kv_heads.begin * d, s.kv_heads.end * d), block.Columns(q_cols, q_cols + kv_cols));
    backend_.Copy(v_all.Columns(s.kv_heads.begin * d, s.kv_heads.end * d),
                  block.Columns(q_cols + kv_cols, q_cols + 2 * kv_cols));
    offset += t * (q_cols + 2 * kv_cols) / d;
  }
  const KvLayer& cache = model_.kv_layer(layer);
  backend_.WriteKv(k_all, v_all, up.meta.slot_mapping, cache, 0);

  // Partial attention of all heads over this rank's pages, then to each head's owner.
  const ShardLayout all_heads = *ShardLayout::Make(c, ShardSpec{0, 1});
  ASSIGN_OR_RETURN(Tensor partial, model_.Scratch(kPartial, dtype_, t, c.num_heads * d));
  ASSIGN_OR_RETURN(Tensor lse, model_.Scratch(kLse, DType::kF32, t, c.num_heads));
  backend_.Attention(q_all, cache, up.meta, model_.ShapeFor(all_heads, model_.stored_kv_heads()),
                     partial, lse);
  ASSIGN_OR_RETURN(Tensor p_send, model_.Scratch(kPartialSend, dtype_, n * t, nq * d));
  ASSIGN_OR_RETURN(Tensor l_send, model_.Scratch(kLseSend, DType::kF32, n * t, nq));
  for (int64_t j = 0; j < n; ++j) {
    backend_.Copy(p_send.Slice(j * t, (j + 1) * t), partial.Columns(j * nq * d, (j + 1) * nq * d));
    backend_.Copy(l_send.Slice(j * t, (j + 1) * t), lse.Columns(j * nq, (j + 1) * nq));
  }
  ASSIGN_OR_RETURN(Tensor p_recv, model_.Scratch(kPartialRecv, dtype_, n * t, nq * d));
  ASSIGN_OR_RETURN(Tensor l_recv, model_.Scratch(kLseRecv, DType::kF32, n * t, nq));
  comm_.AllToAll(p_send, p_recv);
  comm_.AllToAll(l_send, l_recv);
  ASSIGN_OR_RETURN(Tensor attn, model_.Scratch(kAttn, dtype_, t, nq * d));
  backend_.CombineAttention(p_recv.View({n, t, nq * d}), l_recv.View({n, t, nq}), attn);
  backend_.MatMul(attn, w.o, out, /*accumulate=*/false);
  if (!w.o_bias.empty()) backend_.AddBias(out, w.o_bias);
  comm_.AllReduce(out);
  return absl::OkStatus();
}

// SP decode (every rank holds every weight), TP x SP decode (the tensor group's heads) and TSP's
// broadcast decode (the weight shards come to every rank in turn): every rank projects every token
// for the shard's heads, the owner of each token's slot writes its K/V, and the partials of the
// sequence group's pages are merged on every rank.
absl::Status ParallelForward::AttentionSplitKvReplicated(int64_t layer, const Tensor& x,
                                                         const UploadedBatch& up, const Tensor& out,
                                                         bool moving_weights) {
  const int64_t t = x.dim(0), d = model_.config().head_dim;
  const int32_t shards = moving_weights ? config_.degree : 1;
  const KvLayer& cache = model_.kv_layer(layer);
  for (int32_t r = 0; r < shards; ++r) {
    // Decode steps are short: the broadcast is waited for at once (no prefetch across the
    // split-KV merge's own collectives).
    ASSIGN_OR_RETURN(const AttentionShardWeights w,
                     moving_weights ? IssueAttentionShard(layer, r, r % 2)
                                    : absl::StatusOr<AttentionShardWeights>(
                                          model_.weights().layers[static_cast<size_t>(layer)].attention));
    if (moving_weights) comm_.WaitDeferred();
    const ShardLayout shard = moving_weights ? ShardOf(r) : model_.layout();
    const int64_t nq = shard.q_heads.size();
    ASSIGN_OR_RETURN(Tensor qkv, model_.Scratch(kQkv, dtype_, t, w.qkv.dim(0)));
    const QkvViews v = model_.ProjectQkv(w, shard, x, up.meta.query_positions, qkv);
    backend_.WriteKv(v.k, v.v, up.meta.slot_mapping, cache,
                     static_cast<int32_t>(shard.kv_heads.begin - model_.stored_kv_heads().begin));
    ASSIGN_OR_RETURN(Tensor partial, model_.Scratch(kPartial, dtype_, t, nq * d));
    ASSIGN_OR_RETURN(Tensor lse, model_.Scratch(kLse, DType::kF32, t, nq));
    backend_.Attention(v.q, cache, up.meta, model_.ShapeFor(shard, model_.stored_kv_heads()),
                       partial, lse);
    ASSIGN_OR_RETURN(Tensor attn, model_.Scratch(kAttn, dtype_, t, nq * d));
    RETURN_IF_ERROR(CombineSplitKv(partial, lse, attn));
    backend_.MatMul(attn, w.o, out, /*accumulate=*/r > 0);
    if (!w.o_bias.empty()) backend_.AddBias(out, w.o_bias);
  }
  // TP x SP: the heads were the tensor group's share; sum the groups' partial products.
  if (!moving_weights && config_.weights_sharded()) tensor_comm_.AllReduce(out);
  return absl::OkStatus();
}

absl::StatusOr<StepOutput> ParallelForward::RunReplicated(const RankStep& step) {
  const bool fixed = step.recording != StepRecording::kNone;
  ASSIGN_OR_RETURN(const UploadedBatch up, model_.Upload(0, step.all, fixed ? &step.fixed_shapes : nullptr));
  ASSIGN_OR_RETURN(const Tensor hidden, fixed ? RecordedLayers(step, up) : ReplicatedLayers(step, up));
  return LmHead(hidden, {});
}

absl::StatusOr<Tensor> ParallelForward::ReplicatedLayers(const RankStep& step, const UploadedBatch& up) {
  const ModelConfig& c = model_.config();
  const ModelWeights& weights = model_.weights();
  const int64_t t = step.all.num_tokens(), h = c.hidden_size;
  const float eps = model_.rms_norm_eps();
  ASSIGN_OR_RETURN(Tensor x, model_.Scratch(kResidual, dtype_, t, h));
  ASSIGN_OR_RETURN(Tensor normed, model_.Scratch(kNormed, dtype_, t, h));
  ASSIGN_OR_RETURN(Tensor y, model_.Scratch(kBlockOut, dtype_, t, h));
  RETURN_IF_ERROR(Embed(up.token_ids, x));
  const bool local = config_.degree == 1 || config_.mode == ParallelMode::kTp;
  const bool by_head = config_.mode == ParallelMode::kTsp && !moves_weights_in_decode();
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& lw = weights.layers[static_cast<size_t>(l)];
    InputNorm(l, x, y, normed);
    if (local) {
      RETURN_IF_ERROR(AttentionHeadLocal(l, normed, up, y));
    } else if (by_head) {
      RETURN_IF_ERROR(AttentionSplitKvByHead(l, normed, up, y));
    } else {
      RETURN_IF_ERROR(AttentionSplitKvReplicated(l, normed, up, y, moves_weights_in_decode()));
    }
    backend_.AddRmsNorm(x, y, lw.post_attention_norm, eps, normed);
    RETURN_IF_ERROR(moves_weights_in_decode() ? MlpRing(l, normed, y) : MlpLocal(l, normed, y));
  }
  backend_.AddRmsNorm(x, y, weights.final_norm, eps, normed);
  ASSIGN_OR_RETURN(Tensor hidden,
                   model_.Scratch(kHidden, dtype_, static_cast<int64_t>(step.all.logit_rows.size()), h));
  backend_.GatherRows(normed, up.logit_rows, hidden);
  return hidden;
}

}  // namespace tspserve
