// The sequence-sharded layout of a prefill step (DESIGN.md 1.1): each rank computes only its own
// (zig-zag) tokens; TSP brings the weights to them, SP already has them, and under TP x SP the
// tensor group shares its tokens and splits the heads.
#include "engine/common/status.h"
#include "engine/parallel/parallel_forward.h"
#include "engine/parallel/scratch_slots.h"

namespace tspserve {

absl::StatusOr<StepOutput> ParallelForward::RunSequenceSharded(const RankStep& step) {
  const ModelConfig& c = model_.config();
  const ModelWeights& weights = model_.weights();
  const int64_t t = step.local.num_tokens(), t_all = step.all.num_tokens();
  const int64_t h = c.hidden_size, d = c.head_dim;
  const float eps = model_.rms_norm_eps();
  const bool tsp = config_.mode == ParallelMode::kTsp;
  ASSIGN_OR_RETURN(UploadedBatch local, model_.Upload(1, step.local));
  ASSIGN_OR_RETURN(Tensor x, model_.Scratch(kResidual, dtype_, t, h));
  ASSIGN_OR_RETURN(Tensor normed, model_.Scratch(kNormed, dtype_, t, h));
  ASSIGN_OR_RETURN(Tensor y, model_.Scratch(kBlockOut, dtype_, t, h));

  if (tsp) {
    // Vocabulary rows are sharded: for each rank in turn, every rank embeds that rank's tokens
    // from its own rows and the sums arrive everywhere; the owner keeps them. Never more than
    // one rank's share of the sequence in memory.
    for (int32_t q = 0; q < config_.degree; ++q) {
      ForwardBatch ids;
      ids.token_ids = step.token_ids_by_rank[static_cast<size_t>(q)];
      ASSIGN_OR_RETURN(UploadedBatch up, model_.Upload(2, ids));
      ASSIGN_OR_RETURN(Tensor embedded,
                       model_.Scratch(kEmbedAll, dtype_, static_cast<int64_t>(ids.token_ids.size()), h));
      RETURN_IF_ERROR(Embed(up.token_ids, embedded));
      if (q == comm_.rank()) backend_.Copy(x, embedded);
    }
  } else {
    RETURN_IF_ERROR(Embed(local.token_ids, x));  // the tensor group shares these tokens
  }

  // TSP: the attention shards of every layer arrive in one sequence (layer-major, then owner),
  // alternating between two buffers; shard k+1's broadcast is issued once shard k's K/V exchange
  // is, so it travels while shard k's attention runs.
  const int32_t shards = tsp ? config_.degree : 1;
  int64_t issued = 0;  // shards issued so far; shard k sits in buffer k % 2
  AttentionShardWeights pending;
  if (tsp) {
    ASSIGN_OR_RETURN(pending, IssueAttentionShard(0, 0, 0));
  }
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& lw = weights.layers[static_cast<size_t>(l)];
    InputNorm(l, x, y, normed);
    for (int32_t r = 0; r < shards; ++r) {  // TSP: rank r's attention shard, broadcast from it
      comm_.WaitDeferred();
      const AttentionShardWeights w = tsp ? pending : lw.attention;
      const ShardLayout shard = tsp ? ShardOf(r) : model_.layout();
      const int64_t kv_cols = shard.kv_heads.size() * d;
      ASSIGN_OR_RETURN(Tensor qkv, model_.Scratch(kQkv, dtype_, t, w.qkv.dim(0)));
      const QkvViews v = model_.ProjectQkv(w, shard, normed, local.meta.query_positions, qkv);
      backend_.WriteKv(v.k, v.v, local.meta.slot_mapping, model_.kv_layer(l),
                       static_cast<int32_t>(shard.kv_heads.begin - model_.stored_kv_heads().begin));
      // The sequence-wise K/V exchange: every rank's tokens, rank-major, one row per key.
      ASSIGN_OR_RETURN(Tensor k_send, model_.Scratch(kKvSend, dtype_, t, kv_cols));
      backend_.Copy(k_send, v.k);
      ASSIGN_OR_RETURN(Tensor k_all, GatherRowsAcrossRanks(sequence_comm_, kKAll, k_send, step.tokens_per_rank));
      ASSIGN_OR_RETURN(Tensor v_send, model_.Scratch(kKvSend, dtype_, t, kv_cols));
      backend_.Copy(v_send, v.v);
      ASSIGN_OR_RETURN(Tensor v_all, GatherRowsAcrossRanks(sequence_comm_, kVAll, v_send, step.tokens_per_rank));
      const int64_t heads = shard.kv_heads.size();
      const KvLayer gathered{k_all.View({t_all, 1, heads, d}), v_all.View({t_all, 1, heads, d})};
      const bool more = r + 1 < shards || l + 1 < c.num_layers;
      if (tsp && more) {
        ++issued;
        ASSIGN_OR_RETURN(pending, r + 1 < shards ? IssueAttentionShard(l, r + 1, issued % 2)
                                                 : IssueAttentionShard(l + 1, 0, issued % 2));
      }
      ASSIGN_OR_RETURN(Tensor attn, model_.Scratch(kAttn, dtype_, t, shard.q_heads.size() * d));
      backend_.Attention(v.q, gathered, local.meta, model_.ShapeFor(shard, shard.kv_heads), attn,
                         Tensor());
      backend_.MatMul(attn, w.o, y, /*accumulate=*/r > 0);  // local accumulation, no all-reduce
      if (!w.o_bias.empty()) backend_.AddBias(y, w.o_bias);
    }
    if (!tsp && config_.weights_sharded()) tensor_comm_.AllReduce(y);  // TP x SP: heads by group
    backend_.AddRmsNorm(x, y, lw.post_attention_norm, eps, normed);
    RETURN_IF_ERROR(tsp ? MlpRing(l, normed, y) : MlpLocal(l, normed, y));
  }
  backend_.AddRmsNorm(x, y, weights.final_norm, eps, normed);
  ASSIGN_OR_RETURN(Tensor hidden_local,
                   model_.Scratch(kHiddenLocal, dtype_, static_cast<int64_t>(step.local.logit_rows.size()), h));
  backend_.GatherRows(normed, local.logit_rows, hidden_local);
  ASSIGN_OR_RETURN(Tensor hidden, GatherRowsAcrossRanks(sequence_comm_, kHidden, hidden_local, step.logit_rows_per_rank));
  return LmHead(hidden, step.logit_order);
}

}  // namespace tspserve
