// ParallelForward's LM head: logits of the rank's vocabulary shard (fp32 from the product on, so
// sampling compares unrounded scores), then either sampling on the devices, where only a few
// numbers per row and shard travel (engine/sampling/shard_sample.h), or the whole rows gathered
// on rank 0.
#include <algorithm>

#include "engine/common/check.h"
#include "engine/common/status.h"
#include "engine/parallel/parallel_forward.h"
#include "engine/parallel/scratch_slots.h"

namespace tspserve {

bool ParallelForward::runs_lm_head() const { return config_.weights_sharded() || comm_.rank() == 0; }

absl::Status ParallelForward::PrepareSampling(const RankStep& step) {
  head_sampling_.clear();
  head_penalty_entries_ = 0;
  if (step.sampling.empty() || !runs_lm_head()) return absl::OkStatus();
  // Head row g is plan row g, except after a sequence-sharded prefill's gather (logit_order).
  const bool gathered = step.prefill_only && config_.degree > 1;
  const int64_t rows = static_cast<int64_t>(step.sampling.size());
  std::vector<int32_t> head_row_of(static_cast<size_t>(rows));
  std::vector<int64_t> races;
  std::vector<float> temperatures, penalties;
  for (int64_t g = 0; g < rows; ++g) {
    const size_t plan_row = static_cast<size_t>(gathered ? step.logit_order[static_cast<size_t>(g)] : g);
    const RowSampling& p = step.sampling[plan_row];
    head_row_of[plan_row] = static_cast<int32_t>(g);
    head_sampling_.push_back(p);
    races.insert(races.end(), {static_cast<int64_t>(p.seed), static_cast<int64_t>(p.step)});
    temperatures.push_back(p.temperature);
    penalties.insert(penalties.end(), {p.repetition_penalty, p.frequency_penalty, p.presence_penalty});
  }
  // Uploaded before the forward pass, while the stream is idle (CopyFromHost waits for it).
  auto upload = [&](int slot, DType dtype, int64_t n, int64_t cols, const void* host) -> absl::Status {
    ASSIGN_OR_RETURN(Tensor t, model_.Scratch(slot, dtype, n, cols));
    backend_.CopyFromHost(t, host);
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(upload(kRaceParams, DType::kI64, rows, 2, races.data()));
  RETURN_IF_ERROR(upload(kTemperatures, DType::kF32, rows, 1, temperatures.data()));
  if (step.penalties.empty()) return absl::OkStatus();
  std::vector<int32_t> entries;  // rows renumbered to the head's order
  for (const PenaltyEntry& e : step.penalties) {
    entries.insert(entries.end(), {head_row_of[static_cast<size_t>(e.row)], e.id, e.count});
  }
  head_penalty_entries_ = static_cast<int64_t>(step.penalties.size());
  RETURN_IF_ERROR(upload(kPenaltyEntries, DType::kI32, head_penalty_entries_, 3, entries.data()));
  return upload(kPenalties, DType::kF32, rows, 3, penalties.data());
}

absl::StatusOr<StepOutput> ParallelForward::LmHead(const Tensor& hidden, std::span<const int32_t> order) {
  const int64_t rows = hidden.dim(0);
  const Tensor& head = model_.weights().lm_head;
  StepOutput out;
  if (rows == 0 || !runs_lm_head()) return out;
  ASSIGN_OR_RETURN(Tensor logits, model_.Scratch(kLogits, DType::kF32, rows, head.dim(0)));
  backend_.MatMul(hidden, head, logits, /*accumulate=*/false);
  if (!head_sampling_.empty()) {
    ASSIGN_OR_RETURN(const bool decided, SampleOnDevices(logits, order, out));
    if (decided) return out;
  }
  ASSIGN_OR_RETURN(out.logits, GatherLogits(logits, order));
  return out;
}

absl::StatusOr<ParallelForward::RaceResults> ParallelForward::RaceShards(const Tensor& logits, int32_t k) {
  const int64_t rows = logits.dim(0), shard_cols = logits.dim(1);
  CHECK_EQ(rows, static_cast<int64_t>(head_sampling_.size()));
  const int64_t begin = model_.weights().layout.vocab.begin;
  const int64_t valid = std::clamp<int64_t>(model_.config().vocab_size - begin, 0, shard_cols);
  ASSIGN_OR_RETURN(Tensor race_params, model_.Scratch(kRaceParams, DType::kI64, rows, 2));
  ASSIGN_OR_RETURN(Tensor temperature, model_.Scratch(kTemperatures, DType::kF32, rows, 1));
  ASSIGN_OR_RETURN(Tensor result, model_.Scratch(kRaces, DType::kF32, rows, 4));
  // Penalties apply to a copy: a row left undecided gathers the raw logits for the host Sampler.
  Tensor scores = logits;
  if (head_penalty_entries_ > 0) {
    ASSIGN_OR_RETURN(scores, model_.Scratch(kPenalizedLogits, DType::kF32, rows, shard_cols));
    ASSIGN_OR_RETURN(Tensor entries, model_.Scratch(kPenaltyEntries, DType::kI32, head_penalty_entries_, 3));
    ASSIGN_OR_RETURN(Tensor penalties, model_.Scratch(kPenalties, DType::kF32, rows, 3));
    backend_.Copy(scores, logits);
    backend_.PenalizeLogits(scores, valid, begin, entries, penalties);
  }
  backend_.SampleRows(scores, valid, begin, race_params, temperature.View({rows}), result);
  Tensor candidates;
  if (k > 0) {
    ASSIGN_OR_RETURN(candidates, model_.Scratch(kCandidates, DType::kF32, rows, 2 * k));
    backend_.TopCandidates(scores, valid, begin, candidates);
  }
  const bool sharded = config_.weights_sharded();
  const int32_t shards = sharded ? tensor_comm_.size() : 1;
  if (sharded) {
    ASSIGN_OR_RETURN(Tensor gathered, model_.Scratch(kGatheredRaces, DType::kF32, shards * rows, 4));
    tensor_comm_.AllGather(result, gathered);  // [shard][row][4]
    result = gathered;
    if (k > 0) {
      ASSIGN_OR_RETURN(gathered, model_.Scratch(kGatheredCandidates, DType::kF32, shards * rows, 2 * k));
      tensor_comm_.AllGather(candidates, gathered);  // [shard][row][2k]
      candidates = gathered;
    }
  }
  return RaceResults{result, candidates, shards};
}

absl::StatusOr<bool> ParallelForward::SampleOnDevices(const Tensor& logits, std::span<const int32_t> order,
                                                      StepOutput& out) {
  const int64_t rows = logits.dim(0);
  const int32_t k = CandidatesPerShard(head_sampling_);
  ASSIGN_OR_RETURN(const RaceResults raced, RaceShards(logits, k));
  // Rank 0 needs the tokens; every rank needs to know whether the full logits follow.
  if (comm_.rank() != 0 && !(raced.count > 1 && MayNeedFullRows(head_sampling_))) return true;
  std::vector<float> host_races(static_cast<size_t>(raced.races.numel()));
  std::vector<float> host_candidates(k > 0 ? static_cast<size_t>(raced.candidates.numel()) : 0);
  backend_.CopyToHost(host_races.data(), raced.races);
  if (k > 0) backend_.CopyToHost(host_candidates.data(), raced.candidates);
  const ShardSamples samples{raced.count, static_cast<int32_t>(rows), k, host_races, host_candidates};
  out.sampled.assign(static_cast<size_t>(rows), std::nullopt);
  bool decided = true;  // the same on every rank: the same numbers, the same merge
  for (int64_t g = 0; g < rows; ++g) {
    absl::StatusOr<std::optional<SampledToken>> token =
        MergeShardSamples(samples, static_cast<int32_t>(g), head_sampling_[static_cast<size_t>(g)]);
    decided = decided && !(token.ok() && !token->has_value());
    out.sampled[static_cast<size_t>(order.empty() ? g : order[static_cast<size_t>(g)])] = std::move(token);
  }
  return decided;
}

absl::StatusOr<std::vector<float>> ParallelForward::GatherLogits(const Tensor& logits, std::span<const int32_t> order) {
  const int64_t rows = logits.dim(0), shard_cols = logits.dim(1), vocab = model_.config().vocab_size;
  const bool sharded = config_.weights_sharded();
  const int32_t shards = sharded ? tensor_comm_.size() : 1;
  Tensor gathered = logits;
  if (sharded) {
    ASSIGN_OR_RETURN(gathered, model_.Scratch(kGatheredLogits, DType::kF32, shards * rows, shard_cols));
    tensor_comm_.AllGather(logits, gathered);  // [shard][row][column]
  }
  if (comm_.rank() != 0) return std::vector<float>();
  std::vector<float> host(static_cast<size_t>(gathered.numel()));
  backend_.CopyToHost(host.data(), gathered);
  // Row g of shard s holds vocabulary columns [s * shard_cols, (s + 1) * shard_cols): copy each
  // run into plan order, dropping the padding past vocab_size.
  std::vector<float> out(static_cast<size_t>(rows * vocab));
  for (int64_t g = 0; g < rows; ++g) {
    const int64_t row = order.empty() ? g : order[static_cast<size_t>(g)];
    for (int64_t s = 0; s < shards; ++s) {
      const int64_t begin = s * shard_cols, count = std::min(shard_cols, vocab - begin);
      if (count <= 0) break;
      std::copy_n(host.begin() + (s * rows + g) * shard_cols, count, out.begin() + row * vocab + begin);
    }
  }
  return out;
}

}  // namespace tspserve
