// ParallelForward: one rank's forward pass for one step, in the parallel mode of the run. Every
// rank of the group runs it on its own RankStep at the same time; collectives go through the
// rank's Communicator in the same order on every rank.
//
// Two layouts of a step's tokens (DESIGN.md section 1):
//  - sequence-sharded (RunSequenceSharded): each rank computes only its own tokens. TSP moves the
//    weights: per layer it broadcasts each rank's attention shard in turn and passes the MLP shards
//    round a ring, all-gathering the K/V of the step's tokens for causal attention by global
//    position (1.1). SP has every weight already and only all-gathers K/V. Used for steps made only
//    of whole prompts.
//  - replicated (RunReplicated): every rank computes every token of the step. TP keeps its heads
//    and channels and all-reduces; TSP's weight-stationary decode all-gathers q/k/v, runs split-KV
//    attention over the rank's own pages and sends each head's partials to the head's owner by one
//    all-to-all (1.2); SP combines the partials of all heads on every rank; TSP's broadcast decode
//    moves the weights as prefill does. Used for every other step (decodes, chunked prompts).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/comm/communicator.h"
#include "engine/parallel/parallel_config.h"
#include "engine/parallel/rank_step.h"
#include "engine/sampling/shard_sample.h"
#include "models/llama_model.h"

namespace tspserve {

class ParallelForward {
 public:
  // `tensor_comm` and `sequence_comm` are the rank's mesh groups under TP x SP; null means `comm`.
  ParallelForward(const ParallelConfig& config, LlamaModel& model, Communicator& comm,
                  Communicator* tensor_comm = nullptr, Communicator* sequence_comm = nullptr);

  // Grows every scratch buffer the step will use (step_memory.cc). The executor calls it on every
  // rank and checks all results before any rank runs the step, so running out of memory is an
  // error of the step, never a rank stuck in a collective its failed peer will not join.
  absl::Status ReserveStepMemory(const RankStep& step);

  // Runs the step. Rank 0 returns the tokens sampled on the devices (step.sampling not empty)
  // and/or the logits of all.logit_rows in plan order (StepOutput::sampled, ::logits); the other
  // ranks return an empty output. vocab_size and logit_index are left to the caller.
  absl::StatusOr<StepOutput> Run(const RankStep& step);
  // Decode steps whose layers ran as a replay of a recording.
  int64_t replayed_steps() const { return replayed_steps_; }

 private:
  struct Views;
  absl::StatusOr<StepOutput> RunReplicated(const RankStep& step);
  // The replicated layout's embedding, layers and final norm: hidden [R, H] (kHidden) of the
  // rows that want logits.
  absl::StatusOr<Tensor> ReplicatedLayers(const RankStep& step, const UploadedBatch& up);
  // ReplicatedLayers as step.recording says (recorded_layers.cc).
  absl::StatusOr<Tensor> RecordedLayers(const RankStep& step, const UploadedBatch& up);
  absl::StatusOr<StepOutput> RunSequenceSharded(const RankStep& step);

  // Shared pieces.
  // normed = RmsNorm(x) with layer `layer`'s input norm, after x += y (the previous block's
  // output) for every layer but the first.
  void InputNorm(int64_t layer, const Tensor& x, const Tensor& y, const Tensor& normed);
  absl::Status Embed(const Tensor& token_ids, const Tensor& out);
  // The LM head (lm_head.cc). Ranks holding a vocabulary shard run it; with replicated weights,
  // rank 0 alone.
  bool runs_lm_head() const;
  // Sets head_sampling_ from step.sampling in the LM head's row order and uploads each row's
  // (seed, step), temperature and penalties and the penalty entries, before the forward pass.
  absl::Status PrepareSampling(const RankStep& step);
  // hidden [R, H], the same on every rank; `order[g]` is the plan-order row of hidden row g
  // (empty: already in plan order).
  absl::StatusOr<StepOutput> LmHead(const Tensor& hidden, std::span<const int32_t> order);
  // The columns of this rank's vocabulary shard that are tokens ([0, valid)), the first being
  // token `begin`.
  struct HeadShard {
    int64_t begin = 0;
    int64_t valid = 0;
  };
  HeadShard head_shard(int64_t shard_cols) const;
  // Uploads `rows` x `cols` host values into scratch slot `slot` (the stream is idle: the host
  // waits for it).
  absl::StatusOr<Tensor> Upload(int slot, DType dtype, int64_t rows, int64_t cols, const void* host);
  // Every shard's `local` [R, C] F32, shard-major [S][R][C] (all-gathered into scratch slot
  // `gathered_slot` when the head is sharded); on the host when `to_host`, else empty.
  absl::StatusOr<std::vector<float>> ShardResults(const Tensor& local, int gathered_slot, bool to_host);
  // logits [R, shard_cols] fp32 of this rank's vocabulary shard -> rank 0: out.sampled in plan
  // order. The step's penalties apply to a copy (scores); each shard races and lists its
  // candidates, the host merges them (MergeShardSamples), and rows whose kept set
  // reaches past the candidates are searched for (SearchNuclei).
  absl::Status SampleOnDevices(const Tensor& logits, std::span<const int32_t> order, StepOutput& out);
  // The nucleus search of the rows with starts[g] set (engine/sampling/nucleus_search.h), on
  // every rank of the head: rounds of KeyHistogram over scores, then MaskLogits and the race again.
  absl::Status SearchNuclei(const Tensor& scores, const ShardSamples& first,
                            std::span<const std::optional<NucleusStart>> starts, std::span<const int32_t> order,
                            StepOutput& out);
  // The raw_logprobs rows' logprobs from the raw logits (`raw`: their race and candidates, as
  // gathered): every rank of the head gathers the raw logit of each sampled token it holds (one
  // GatherRows), one all-gather, and rank 0 replaces the rows' logprobs (AddRawLogprobs).
  absl::Status AddRawLogprobsOnDevices(const Tensor& logits, const ShardSamples& raw, std::span<const int32_t> order,
                                       StepOutput& out);
  // logits as above -> rank 0: [R, vocab_size] in plan order.
  absl::StatusOr<std::vector<float>> GatherLogits(const Tensor& logits, std::span<const int32_t> order);
  // Issues, deferred, the broadcast of rank `owner`'s attention shard of `layer` into shard buffer
  // `buffer` (0 or 1) and returns its views, readable after comm_.WaitDeferred(). The buffer must
  // not be read by work issued after this call (double buffering: alternate the two).
  absl::StatusOr<AttentionShardWeights> IssueAttentionShard(int64_t layer, int32_t owner, int buffer);
  absl::Status MlpRing(int64_t layer, const Tensor& x, const Tensor& out);
  absl::Status MlpLocal(int64_t layer, const Tensor& x, const Tensor& out);
  absl::StatusOr<Tensor> GatherRowsAcrossRanks(Communicator& group, int slot, const Tensor& local,
                                               std::span<const int64_t> rows_per_rank);

  // Attention variants of the replicated layout; each writes the layer's output into `out`.
  absl::Status AttentionHeadLocal(int64_t layer, const Tensor& x, const UploadedBatch& up,
                                  const Tensor& out);
  absl::Status AttentionSplitKvByHead(int64_t layer, const Tensor& x, const UploadedBatch& up,
                                      const Tensor& out);
  absl::Status AttentionSplitKvReplicated(int64_t layer, const Tensor& x, const UploadedBatch& up,
                                          const Tensor& out, bool moving_weights);
  absl::Status CombineSplitKv(const Tensor& partial, const Tensor& lse, const Tensor& out);

  ShardLayout ShardOf(int32_t rank) const;
  bool moves_weights_in_decode() const;

  ParallelConfig config_;
  LlamaModel& model_;
  Backend& backend_;
  Communicator& comm_;
  Communicator& tensor_comm_;    // the ranks that share a token's heads (all-reduces, vocab shards)
  Communicator& sequence_comm_;  // the ranks that split a sequence (K/V exchange, split-KV merge)
  DType dtype_;
  std::vector<RowSampling> head_sampling_;  // this step's sampling settings in LM-head row order
  int64_t head_penalty_entries_ = 0;        // uploaded PenaltyEntry rows (kPenaltyEntries)
  // Recorded decode layers by (tokens, fixed pages, fixed keys), with the model's and backend's
  // memory generations they were recorded at.
  struct RecordedStep {
    std::unique_ptr<Backend::Recording> recording;
    std::pair<uint64_t, uint64_t> generations;
  };
  std::map<std::tuple<int64_t, int64_t, int64_t>, RecordedStep> recordings_;
  int64_t replayed_steps_ = 0;
};

}  // namespace tspserve
