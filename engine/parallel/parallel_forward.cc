#include "engine/parallel/parallel_forward.h"

#include <algorithm>
#include <numeric>

#include "engine/common/check.h"
#include "engine/common/status.h"
#include "engine/parallel/scratch_slots.h"

namespace tspserve {

ParallelForward::ParallelForward(const ParallelConfig& config, LlamaModel& model, Communicator& comm,
                                 Communicator* tensor_comm, Communicator* sequence_comm)
    : config_(config), model_(model), backend_(model.backend()), comm_(comm),
      tensor_comm_(tensor_comm ? *tensor_comm : comm),
      sequence_comm_(sequence_comm ? *sequence_comm : comm),
      dtype_(model.backend().compute_dtype()) {
  CHECK_EQ(comm.size(), config.degree);
}

absl::StatusOr<StepOutput> ParallelForward::Run(const RankStep& step) {
  RETURN_IF_ERROR(PrepareSampling(step));
  if (step.prefill_only && config_.degree > 1) return RunSequenceSharded(step);
  return RunReplicated(step);
}

ShardLayout ParallelForward::ShardOf(int32_t rank) const {
  absl::StatusOr<ShardLayout> layout = ShardLayout::Make(model_.config(), config_.WeightShard(rank));
  CHECK(layout.ok()) << layout.status();  // validated when the weights were loaded
  return *layout;
}

bool ParallelForward::moves_weights_in_decode() const {
  return config_.mode == ParallelMode::kTsp && config_.degree > 1 &&
         config_.decode_schedule == DecodeSchedule::kBroadcast;
}

void ParallelForward::InputNorm(int64_t layer, const Tensor& x, const Tensor& y, const Tensor& normed) {
  const Tensor& weight = model_.weights().layers[static_cast<size_t>(layer)].input_norm;
  if (layer == 0) {
    backend_.RmsNorm(x, weight, model_.rms_norm_eps(), normed);
  } else {
    backend_.AddRmsNorm(x, y, weight, model_.rms_norm_eps(), normed);
  }
}

absl::Status ParallelForward::Embed(const Tensor& token_ids, const Tensor& out) {
  const ModelWeights& w = model_.weights();
  backend_.Embedding(token_ids, w.embedding, w.layout.vocab.begin, out);
  if (config_.weights_sharded()) tensor_comm_.AllReduce(out);  // each rank filled its vocabulary rows
  return absl::OkStatus();
}

// Every rank calls this for the same (layer, owner) in the same order.
absl::StatusOr<AttentionShardWeights> ParallelForward::IssueAttentionShard(int64_t layer, int32_t owner,
                                                                           int buffer) {
  const LayerWeights& own = model_.weights().layers[static_cast<size_t>(layer)];
  if (config_.degree == 1) return own.attention;
  const ShardLayout shard = ShardOf(owner);
  const int64_t bytes = static_cast<int64_t>(AttentionShardBytes(model_.config(), shard, dtype_));
  Tensor target;
  if (owner == comm_.rank()) {
    target = own.attention_buffer.AsTensor(DType::kU8, {bytes});
  } else {
    ASSIGN_OR_RETURN(Tensor scratch, model_.Scratch(buffer == 0 ? kWeightShardA : kWeightShardB, DType::kU8,
                                                    1, bytes, MemoryKind::kWorkspace));
    target = scratch.View({bytes});
  }
  comm_.SetDeferred(true);
  comm_.Broadcast(target, owner);
  comm_.SetDeferred(false);
  if (owner == comm_.rank()) return own.attention;
  return AttentionShardViews(model_.config(), shard, dtype_, target.data(), target.device());
}

// out = sum over all MLP shards s of mlp_s(x): the shards travel round the ring (send to rank
// p+1, receive from p-1, two buffers), so each rank meets every shard once and nothing is
// all-reduced.
absl::Status ParallelForward::MlpRing(int64_t layer, const Tensor& x, const Tensor& out) {
  const LayerWeights& own = model_.weights().layers[static_cast<size_t>(layer)];
  const int64_t t = x.dim(0), inter = own.mlp.down.dim(1);
  const int64_t chunk = LlamaModel::MlpChunkRows(t);
  ASSIGN_OR_RETURN(Tensor gate_up, model_.Scratch(kGateUp, dtype_, chunk, 2 * inter));
  ASSIGN_OR_RETURN(Tensor act, model_.Scratch(kMlpAct, dtype_, chunk, inter));
  const int32_t n = config_.degree, p = comm_.rank();
  const int64_t bytes = static_cast<int64_t>(own.mlp_buffer.size());
  ASSIGN_OR_RETURN(Tensor ring_a, model_.Scratch(kRingA, DType::kU8, 1, bytes, MemoryKind::kWorkspace));
  ASSIGN_OR_RETURN(Tensor ring_b, model_.Scratch(kRingB, DType::kU8, 1, bytes, MemoryKind::kWorkspace));
  const Tensor ring[2] = {ring_a.View({bytes}), ring_b.View({bytes})};
  Tensor current_bytes = own.mlp_buffer.AsTensor(DType::kU8, {bytes});
  MlpShardWeights current = own.mlp;
  for (int32_t step = 0; step < n; ++step) {
    const Tensor& next = ring[step % 2];
    if (step + 1 < n) {  // the next shard travels while this one computes
      const Communicator::PeerOp send{(p + 1) % n, current_bytes};
      const Communicator::PeerOp recv{(p + n - 1) % n, next};
      comm_.SetDeferred(true);
      comm_.SendRecv({&send, 1}, {&recv, 1});
      comm_.SetDeferred(false);
    }
    model_.Mlp(current, x, gate_up, act, out, /*accumulate=*/step > 0);
    comm_.WaitDeferred();
    // Every MLP shard has the same shape, so rank p's layout views any of them.
    current = MlpShardViews(model_.config(), model_.layout(), dtype_, next.data(), next.device());
    current_bytes = next;
  }
  return absl::OkStatus();
}

absl::Status ParallelForward::MlpLocal(int64_t layer, const Tensor& x, const Tensor& out) {
  const MlpShardWeights& w = model_.weights().layers[static_cast<size_t>(layer)].mlp;
  const int64_t t = x.dim(0), inter = w.down.dim(1);
  const int64_t chunk = LlamaModel::MlpChunkRows(t);
  ASSIGN_OR_RETURN(Tensor gate_up, model_.Scratch(kGateUp, dtype_, chunk, 2 * inter));
  ASSIGN_OR_RETURN(Tensor act, model_.Scratch(kMlpAct, dtype_, chunk, inter));
  model_.Mlp(w, x, gate_up, act, out, /*accumulate=*/false);
  if (config_.weights_sharded()) tensor_comm_.AllReduce(out);
  return absl::OkStatus();
}

absl::StatusOr<Tensor> ParallelForward::GatherRowsAcrossRanks(Communicator& group, int slot,
                                                              const Tensor& local,
                                                              std::span<const int64_t> rows_per_rank) {
  const int64_t rows = std::accumulate(rows_per_rank.begin(), rows_per_rank.end(), int64_t{0});
  ASSIGN_OR_RETURN(Tensor all, model_.Scratch(slot, local.dtype(), rows, local.dim(1)));
  group.AllGatherV(local, all, rows_per_rank);
  return all;
}

// Each rank picks over its own vocabulary rows; the picks (three floats a row) are gathered and
// merged on rank 0: the largest max wins, the lower shard (so the lower id) on ties, and the
// log-sum-exps combine exactly.
}  // namespace tspserve
