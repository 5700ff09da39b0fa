// ParallelForward::ReserveStepMemory: every scratch slot a step will use, grown up front to the
// largest size any of its uses needs, so a step that cannot get its memory fails on every rank
// before the first collective (one rank failing mid-step would leave its peers waiting in a
// collective forever) and no buffer is reallocated while a collective is in flight.
#include <algorithm>
#include <bit>

#include "engine/common/status.h"
#include "engine/parallel/parallel_forward.h"
#include "engine/parallel/scratch_slots.h"

namespace tspserve {

static_assert(kNumScratchSlots <= LlamaModel::kMaxScratchSlots, "LlamaModel holds too few scratch slots");

absl::Status ParallelForward::ReserveStepMemory(const RankStep& step) {
  const ModelConfig& c = model_.config();
  const int64_t h = c.hidden_size, d = c.head_dim, n = config_.degree;
  int64_t max_q = 0, max_kv = 0, shard_bytes = 0;  // over every rank's attention shard
  for (int32_t r = 0; r < n; ++r) {
    const ShardLayout s = ShardOf(r);
    max_q = std::max(max_q, s.q_heads.size());
    max_kv = std::max(max_kv, s.kv_heads.size());
    shard_bytes = std::max(shard_bytes, static_cast<int64_t>(AttentionShardBytes(c, s, dtype_)));
  }
  const LayerWeights& layer = model_.weights().layers[0];
  const int64_t inter = layer.mlp.down.dim(1);
  const bool sharded = step.prefill_only && n > 1;
  const bool tsp = config_.mode == ParallelMode::kTsp && n > 1;
  const int64_t t = sharded ? step.local.num_tokens() : step.all.num_tokens();
  const int64_t t_all = step.all.num_tokens();
  const int64_t logit_rows = static_cast<int64_t>(step.all.logit_rows.size());
  auto reserve = [&](int slot, DType dtype, int64_t rows, int64_t cols,
                     MemoryKind kind = MemoryKind::kActivations) -> absl::Status {
    return model_.Scratch(slot, dtype, std::max<int64_t>(rows, 1), std::max<int64_t>(cols, 1), kind).status();
  };
  for (int slot : {kResidual, kNormed, kBlockOut}) RETURN_IF_ERROR(reserve(slot, dtype_, t, h));
  RETURN_IF_ERROR(reserve(kQkv, dtype_, t, (max_q + 2 * max_kv) * d));
  RETURN_IF_ERROR(reserve(kAttn, dtype_, t, max_q * d));
  RETURN_IF_ERROR(reserve(kGateUp, dtype_, LlamaModel::MlpChunkRows(t), 2 * inter));
  RETURN_IF_ERROR(reserve(kMlpAct, dtype_, LlamaModel::MlpChunkRows(t), inter));
  const bool moves_weights = tsp && (sharded || moves_weights_in_decode());
  if (moves_weights) {
    for (int slot : {kWeightShardA, kWeightShardB}) {
      RETURN_IF_ERROR(reserve(slot, DType::kU8, 1, shard_bytes, MemoryKind::kWorkspace));
    }
    const int64_t mlp_bytes = static_cast<int64_t>(layer.mlp_buffer.size());
    for (int slot : {kRingA, kRingB}) RETURN_IF_ERROR(reserve(slot, DType::kU8, 1, mlp_bytes, MemoryKind::kWorkspace));
  }
  if (sharded) {
    RETURN_IF_ERROR(reserve(kKvSend, dtype_, t, max_kv * d));
    RETURN_IF_ERROR(reserve(kKAll, dtype_, t_all, max_kv * d));
    RETURN_IF_ERROR(reserve(kVAll, dtype_, t_all, max_kv * d));
    if (tsp) {
      const int64_t most = *std::max_element(step.tokens_per_rank.begin(), step.tokens_per_rank.end());
      RETURN_IF_ERROR(reserve(kEmbedAll, dtype_, most, h));
    }
    RETURN_IF_ERROR(reserve(kHiddenLocal, dtype_, static_cast<int64_t>(step.local.logit_rows.size()), h));
  } else if (n > 1 && config_.mode != ParallelMode::kTp) {
    const int64_t heads = tsp && !moves_weights_in_decode() ? c.num_heads : max_q;  // by head: all
    RETURN_IF_ERROR(reserve(kPartial, dtype_, t, heads * d));
    RETURN_IF_ERROR(reserve(kLse, DType::kF32, t, heads));
    RETURN_IF_ERROR(reserve(kPartialRecv, dtype_, n * t, max_q * d));
    RETURN_IF_ERROR(reserve(kLseRecv, DType::kF32, n * t, max_q));
    if (tsp && !moves_weights_in_decode()) {
      RETURN_IF_ERROR(reserve(kQRecv, dtype_, n * t * (max_q + 2 * max_kv), d));
      RETURN_IF_ERROR(reserve(kQAll, dtype_, t, c.num_heads * d));
      RETURN_IF_ERROR(reserve(kKAll, dtype_, t, c.num_kv_heads * d));
      RETURN_IF_ERROR(reserve(kVAll, dtype_, t, c.num_kv_heads * d));
      RETURN_IF_ERROR(reserve(kPartialSend, dtype_, n * t, max_q * d));
      RETURN_IF_ERROR(reserve(kLseSend, DType::kF32, n * t, max_q));
    }
  }
  const int64_t shard_cols = model_.weights().lm_head.dim(0);
  RETURN_IF_ERROR(reserve(kHidden, dtype_, logit_rows, h));
  if (!config_.weights_sharded() && comm_.rank() != 0) return absl::OkStatus();  // rank 0's head
  RETURN_IF_ERROR(reserve(kLogits, DType::kF32, logit_rows, shard_cols));
  const int64_t shards = config_.weights_sharded() ? tensor_comm_.size() : 1;
  if (!step.sampling.empty()) {
    const int64_t k = CandidatesPerShard(step.sampling);
    RETURN_IF_ERROR(reserve(kRaceParams, DType::kI64, logit_rows, 2));
    RETURN_IF_ERROR(reserve(kTemperatures, DType::kF32, logit_rows, 1));
    RETURN_IF_ERROR(reserve(kRaces, DType::kF32, logit_rows, 4));
    if (k > 0) RETURN_IF_ERROR(reserve(kCandidates, DType::kF32, logit_rows, 2 * k));
    if (!step.penalties.empty()) {
      // In powers of two: the entries grow by a token or so a step, and each reallocation would
      // send recorded decode steps back to a warm-up.
      RETURN_IF_ERROR(reserve(kPenaltyEntries, DType::kI32, static_cast<int64_t>(std::bit_ceil(step.penalties.size())), 3));
      RETURN_IF_ERROR(reserve(kPenalties, DType::kF32, logit_rows, 3));
      RETURN_IF_ERROR(reserve(kPenalizedLogits, DType::kF32, logit_rows, shard_cols));
    }
    if (shards > 1) {
      RETURN_IF_ERROR(reserve(kGatheredRaces, DType::kF32, shards * logit_rows, 4));
      if (k > 0) RETURN_IF_ERROR(reserve(kGatheredCandidates, DType::kF32, shards * logit_rows, 2 * k));
    }
    if (const int64_t raw_k = RawCandidatesPerShard(step.sampling); raw_k > 0) {
      RETURN_IF_ERROR(reserve(kRawTemperatures, DType::kF32, logit_rows, 1));
      RETURN_IF_ERROR(reserve(kRawRaces, DType::kF32, logit_rows, 4));
      RETURN_IF_ERROR(reserve(kRawCandidates, DType::kF32, logit_rows, 2 * raw_k));
      RETURN_IF_ERROR(reserve(kPickIndices, DType::kI32, logit_rows, 1));
      RETURN_IF_ERROR(reserve(kPicked, DType::kF32, logit_rows, 1));
      if (shards > 1) {
        RETURN_IF_ERROR(reserve(kGatheredRawRaces, DType::kF32, shards * logit_rows, 4));
        RETURN_IF_ERROR(reserve(kGatheredRawCandidates, DType::kF32, shards * logit_rows, 2 * raw_k));
        RETURN_IF_ERROR(reserve(kGatheredPicked, DType::kF32, shards * logit_rows, 1));
      }
    }
    if (MayNeedNucleusSearch(step.sampling)) {
      RETURN_IF_ERROR(reserve(kSearchQueries, DType::kI64, logit_rows, 2));
      RETURN_IF_ERROR(reserve(kSearchScales, DType::kF32, logit_rows, 2));
      RETURN_IF_ERROR(reserve(kHistograms, DType::kF32, logit_rows, 512));
      if (shards > 1) RETURN_IF_ERROR(reserve(kGatheredHistograms, DType::kF32, shards * logit_rows, 512));
      RETURN_IF_ERROR(reserve(kMaskThresholds, DType::kI64, logit_rows, 1));
    }
    return absl::OkStatus();
  }
  // The full rows, for steps that do not sample on the devices.
  if (shards > 1) RETURN_IF_ERROR(reserve(kGatheredLogits, DType::kF32, shards * logit_rows, shard_cols));
  return absl::OkStatus();
}

}  // namespace tspserve
