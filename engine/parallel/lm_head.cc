// ParallelForward's LM head: logits of the rank's vocabulary shard (fp32 from the product on, so
// sampling compares unrounded scores), then either sampling on the devices, where only a few
// numbers per row and shard travel (engine/sampling/shard_sample.h), or the whole rows gathered
// on rank 0 (steps that do not sample: teacher forcing, settings the devices do not take).
#include <algorithm>

#include "engine/common/check.h"
#include "engine/common/status.h"
#include "engine/parallel/parallel_forward.h"
#include "engine/parallel/scratch_slots.h"
#include "engine/sampling/nucleus_search.h"

namespace tspserve {
namespace {

// The plan-order row of LM-head row g (`order` empty: the same).
size_t PlanRow(std::span<const int32_t> order, int64_t g) {
  return static_cast<size_t>(order.empty() ? g : order[static_cast<size_t>(g)]);
}

}  // namespace

bool ParallelForward::runs_lm_head() const { return config_.weights_sharded() || comm_.rank() == 0; }

ParallelForward::HeadShard ParallelForward::head_shard(int64_t shard_cols) const {
  const int64_t begin = model_.weights().layout.vocab.begin;
  return {begin, std::clamp<int64_t>(model_.config().vocab_size - begin, 0, shard_cols)};
}

absl::StatusOr<Tensor> ParallelForward::Upload(int slot, DType dtype, int64_t rows, int64_t cols, const void* host) {
  ASSIGN_OR_RETURN(Tensor t, model_.Scratch(slot, dtype, rows, cols));
  backend_.CopyFromHost(t, host);
  return t;
}

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
  // Uploaded before the forward pass, while the stream is idle.
  RETURN_IF_ERROR(Upload(kRaceParams, DType::kI64, rows, 2, races.data()).status());
  RETURN_IF_ERROR(Upload(kTemperatures, DType::kF32, rows, 1, temperatures.data()).status());
  if (RawCandidatesPerShard(head_sampling_) > 0) {
    const std::vector<float> zeros(static_cast<size_t>(rows), 0.0f);
    RETURN_IF_ERROR(Upload(kRawTemperatures, DType::kF32, rows, 1, zeros.data()).status());
  }
  if (step.penalties.empty()) return absl::OkStatus();
  std::vector<int32_t> entries;  // rows renumbered to the head's order
  for (const PenaltyEntry& e : step.penalties) {
    entries.insert(entries.end(), {head_row_of[static_cast<size_t>(e.row)], e.id, e.count});
  }
  head_penalty_entries_ = static_cast<int64_t>(step.penalties.size());
  RETURN_IF_ERROR(Upload(kPenaltyEntries, DType::kI32, head_penalty_entries_, 3, entries.data()).status());
  return Upload(kPenalties, DType::kF32, rows, 3, penalties.data()).status();
}

absl::StatusOr<StepOutput> ParallelForward::LmHead(const Tensor& hidden, std::span<const int32_t> order) {
  const int64_t rows = hidden.dim(0);
  const Tensor& head = model_.weights().lm_head;
  StepOutput out;
  if (rows == 0 || !runs_lm_head()) return out;
  ASSIGN_OR_RETURN(Tensor logits, model_.Scratch(kLogits, DType::kF32, rows, head.dim(0)));
  backend_.MatMul(hidden, head, logits, /*accumulate=*/false);
  if (!head_sampling_.empty()) {
    RETURN_IF_ERROR(SampleOnDevices(logits, order, out));
    return out;
  }
  ASSIGN_OR_RETURN(out.logits, GatherLogits(logits, order));
  return out;
}

absl::StatusOr<std::vector<float>> ParallelForward::ShardResults(const Tensor& local, int gathered_slot, bool to_host) {
  Tensor all = local;
  if (config_.weights_sharded()) {
    ASSIGN_OR_RETURN(all, model_.Scratch(gathered_slot, DType::kF32, tensor_comm_.size() * local.dim(0), local.dim(1)));
    tensor_comm_.AllGather(local, all);
  }
  std::vector<float> host;
  if (!to_host) return host;
  host.resize(static_cast<size_t>(all.numel()));
  backend_.CopyToHost(host.data(), all);
  return host;
}

absl::Status ParallelForward::SampleOnDevices(const Tensor& logits, std::span<const int32_t> order, StepOutput& out) {
  const int64_t rows = logits.dim(0), shard_cols = logits.dim(1);
  CHECK_EQ(rows, static_cast<int64_t>(head_sampling_.size()));
  const HeadShard shard = head_shard(shard_cols);
  ASSIGN_OR_RETURN(Tensor race_params, model_.Scratch(kRaceParams, DType::kI64, rows, 2));
  ASSIGN_OR_RETURN(Tensor temperature, model_.Scratch(kTemperatures, DType::kF32, rows, 1));
  ASSIGN_OR_RETURN(Tensor races, model_.Scratch(kRaces, DType::kF32, rows, 4));
  // Penalties apply to a copy: logprobs are of the raw logits.
  Tensor scores = logits;
  if (head_penalty_entries_ > 0) {
    ASSIGN_OR_RETURN(scores, model_.Scratch(kPenalizedLogits, DType::kF32, rows, shard_cols));
    ASSIGN_OR_RETURN(Tensor entries, model_.Scratch(kPenaltyEntries, DType::kI32, head_penalty_entries_, 3));
    ASSIGN_OR_RETURN(Tensor penalties, model_.Scratch(kPenalties, DType::kF32, rows, 3));
    backend_.Copy(scores, logits);
    backend_.PenalizeLogits(scores, shard.valid, shard.begin, entries, penalties);
  }
  backend_.SampleRows(scores, shard.valid, shard.begin, race_params, temperature.View({rows}), races);
  const int32_t k = CandidatesPerShard(head_sampling_);
  Tensor candidates;
  if (k > 0) {
    ASSIGN_OR_RETURN(candidates, model_.Scratch(kCandidates, DType::kF32, rows, 2 * k));
    backend_.TopCandidates(scores, shard.valid, shard.begin, candidates);
  }
  // The raw logits' race and candidates, for the logprobs of rows whose scores are altered
  // (before a nucleus search masks the scores, which are the raw logits when no entry applies).
  const int32_t raw_k = RawCandidatesPerShard(head_sampling_);
  Tensor raw_races, raw_candidates;
  if (raw_k > 0) {
    ASSIGN_OR_RETURN(raw_races, model_.Scratch(kRawRaces, DType::kF32, rows, 4));
    ASSIGN_OR_RETURN(raw_candidates, model_.Scratch(kRawCandidates, DType::kF32, rows, 2 * raw_k));
    // Only their log-sum-exp is needed: the race at temperature 0 skips the noise.
    ASSIGN_OR_RETURN(Tensor greedy, model_.Scratch(kRawTemperatures, DType::kF32, rows, 1));
    backend_.SampleRows(logits, shard.valid, shard.begin, race_params, greedy.View({rows}), raw_races);
    backend_.TopCandidates(logits, shard.valid, shard.begin, raw_candidates);
  }
  // Rank 0 needs the tokens; every rank of a sharded head runs the rounds of a nucleus search and
  // picks the raw logits of the sampled tokens.
  const int32_t shards = config_.weights_sharded() ? tensor_comm_.size() : 1;
  const bool to_host = comm_.rank() == 0 || (shards > 1 && (MayNeedNucleusSearch(head_sampling_) || raw_k > 0));
  ASSIGN_OR_RETURN(const std::vector<float> host_races, ShardResults(races, kGatheredRaces, to_host));
  std::vector<float> host_candidates, host_raw_races, host_raw_candidates;
  if (k > 0) {
    ASSIGN_OR_RETURN(host_candidates, ShardResults(candidates, kGatheredCandidates, to_host));
  }
  if (raw_k > 0) {
    ASSIGN_OR_RETURN(host_raw_races, ShardResults(raw_races, kGatheredRawRaces, to_host));
    ASSIGN_OR_RETURN(host_raw_candidates, ShardResults(raw_candidates, kGatheredRawCandidates, to_host));
  }
  if (!to_host) return absl::OkStatus();
  const ShardSamples samples{shards, static_cast<int32_t>(rows), k, host_races, host_candidates};
  out.sampled.assign(static_cast<size_t>(rows), absl::InternalError("not sampled"));
  std::vector<std::optional<NucleusStart>> starts(static_cast<size_t>(rows));
  bool search = false;  // the same on every rank: the same numbers, the same merge
  for (int64_t g = 0; g < rows; ++g) {
    const RowSampling& p = head_sampling_[static_cast<size_t>(g)];
    absl::StatusOr<std::optional<SampledToken>> token = MergeShardSamples(samples, static_cast<int32_t>(g), p);
    auto& sampled = out.sampled[PlanRow(order, g)];
    if (!token.ok()) {
      sampled = token.status();
    } else if (token->has_value()) {
      sampled = **std::move(token);
    } else {  // its kept set reaches past the candidates
      starts[static_cast<size_t>(g)] = StartOfNucleus(samples, static_cast<int32_t>(g), p);
      search = true;
    }
  }
  if (search) RETURN_IF_ERROR(SearchNuclei(scores, samples, starts, order, out));
  if (raw_k == 0) return absl::OkStatus();
  const ShardSamples raw{shards, static_cast<int32_t>(rows), raw_k, host_raw_races, host_raw_candidates};
  return AddRawLogprobsOnDevices(logits, raw, order, out);
}

absl::Status ParallelForward::AddRawLogprobsOnDevices(const Tensor& logits, const ShardSamples& raw,
                                                      std::span<const int32_t> order, StepOutput& out) {
  const int64_t rows = logits.dim(0), shard_cols = logits.dim(1);
  const HeadShard shard = head_shard(shard_cols);
  auto sampled = [&](int64_t g) -> absl::StatusOr<SampledToken>& {
    return out.sampled[PlanRow(order, g)];
  };
  auto wanted = [&](int64_t g) { return head_sampling_[static_cast<size_t>(g)].raw_logprobs && sampled(g).ok(); };
  // One gather of an element per row from the logits [R * shard_cols, 1]: the sampled token's
  // column where this shard holds it (any column of the row elsewhere: the host reads the
  // owner's).
  std::vector<int32_t> elements(static_cast<size_t>(rows));
  for (int64_t g = 0; g < rows; ++g) {
    const int64_t column = wanted(g) ? sampled(g)->token - shard.begin : 0;
    elements[static_cast<size_t>(g)] = static_cast<int32_t>(g * shard_cols + std::clamp<int64_t>(column, 0, shard_cols - 1));
  }
  ASSIGN_OR_RETURN(const Tensor indices, Upload(kPickIndices, DType::kI32, rows, 1, elements.data()));
  ASSIGN_OR_RETURN(const Tensor picked, model_.Scratch(kPicked, DType::kF32, rows, 1));
  backend_.GatherRows(logits.View({rows * shard_cols, 1}), indices.View({rows}), picked);
  ASSIGN_OR_RETURN(const std::vector<float> all, ShardResults(picked, kGatheredPicked, /*to_host=*/true));
  if (comm_.rank() != 0) return absl::OkStatus();
  for (int64_t g = 0; g < rows; ++g) {
    if (!wanted(g)) continue;
    const int64_t owner = raw.num_shards > 1 ? sampled(g)->token / shard_cols : 0;  // shard s holds [s C, (s + 1) C)
    const float raw_logit = all[static_cast<size_t>(owner * rows + g)];
    AddRawLogprobs(raw, raw_logit, static_cast<int32_t>(g), head_sampling_[static_cast<size_t>(g)], *sampled(g));
  }
  return absl::OkStatus();
}

absl::Status ParallelForward::SearchNuclei(const Tensor& scores, const ShardSamples& first,
                                           std::span<const std::optional<NucleusStart>> starts,
                                           std::span<const int32_t> order, StepOutput& out) {
  const int64_t rows = scores.dim(0);
  const HeadShard shard = head_shard(scores.dim(1));
  NucleusSearch search(head_sampling_, starts);
  while (!search.done()) {
    const std::vector<int64_t> queries = search.Queries();
    const std::vector<float> scales = search.Scales();
    ASSIGN_OR_RETURN(const Tensor queries_on_device, Upload(kSearchQueries, DType::kI64, rows, 2, queries.data()));
    ASSIGN_OR_RETURN(const Tensor scales_on_device, Upload(kSearchScales, DType::kF32, rows, 2, scales.data()));
    ASSIGN_OR_RETURN(const Tensor histograms, model_.Scratch(kHistograms, DType::kF32, rows, 512));
    backend_.KeyHistogram(scores, shard.valid, shard.begin, queries_on_device, scales_on_device, histograms);
    ASSIGN_OR_RETURN(const std::vector<float> all, ShardResults(histograms, kGatheredHistograms, /*to_host=*/true));
    RETURN_IF_ERROR(search.Absorb(all, first.num_shards));
  }
  // Only the kept tokens race again; a row not searched keeps its row (threshold 0).
  const std::vector<int64_t> thresholds = search.Thresholds();
  ASSIGN_OR_RETURN(const Tensor thresholds_on_device, Upload(kMaskThresholds, DType::kI64, rows, 1, thresholds.data()));
  backend_.MaskLogits(scores, shard.valid, shard.begin, thresholds_on_device.View({rows}));
  ASSIGN_OR_RETURN(Tensor race_params, model_.Scratch(kRaceParams, DType::kI64, rows, 2));
  ASSIGN_OR_RETURN(Tensor temperature, model_.Scratch(kTemperatures, DType::kF32, rows, 1));
  ASSIGN_OR_RETURN(Tensor races, model_.Scratch(kRaces, DType::kF32, rows, 4));
  backend_.SampleRows(scores, shard.valid, shard.begin, race_params, temperature.View({rows}), races);
  ASSIGN_OR_RETURN(const std::vector<float> masked, ShardResults(races, kGatheredRaces, /*to_host=*/true));
  for (int64_t g = 0; g < rows; ++g) {  // on every rank: AddRawLogprobsOnDevices needs the tokens
    if (!starts[static_cast<size_t>(g)].has_value()) continue;
    out.sampled[PlanRow(order, g)] =
        MergeMaskedRace(first, masked, static_cast<int32_t>(g), head_sampling_[static_cast<size_t>(g)]);
  }
  return absl::OkStatus();
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
    const int64_t row = static_cast<int64_t>(PlanRow(order, g));
    for (int64_t s = 0; s < shards; ++s) {
      const int64_t begin = s * shard_cols, count = std::min(shard_cols, vocab - begin);
      if (count <= 0) break;
      std::copy_n(host.begin() + (s * rows + g) * shard_cols, count, out.begin() + row * vocab + begin);
    }
  }
  return out;
}

}  // namespace tspserve
