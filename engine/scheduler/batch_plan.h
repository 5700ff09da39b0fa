// BatchPlan: what one engine step runs, decided on the CPU by the scheduler and only read by the
// executor. Each entry processes `num_tokens` consecutive tokens of one sequence starting at
// `first_position` (a whole or chunked prompt, or one decode token).
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include <vector>

#include "engine/kv/paged_kv_cache.h"
#include "engine/sampling/penalties.h"
#include "engine/sampling/shard_sample.h"

namespace tspserve {

struct ScheduledSeq {
  SeqId seq_id = 0;
  int32_t first_position = 0;
  int32_t num_tokens = 0;
  std::vector<int32_t> token_ids;  // [num_tokens]: the tokens at those positions
  bool wants_logits = false;       // true when this step ends at the sequence's last known token
  bool all_logits = false;         // teacher forcing: logits of every token, not only the last
};

struct BatchPlan {
  std::vector<ScheduledSeq> seqs;
  // Sampling on the devices (engine/sampling/shard_sample.h): one entry per logit row, in plan
  // order, when every row can be sampled there (not teacher forcing, nor more logprobs than a
  // shard lists); then the tokens come back (StepOutput::sampled), not the logits. Empty: the
  // logits come back.
  std::vector<RowSampling> sampling;
  // With `sampling`: the penalized and banned tokens of its rows (PenaltyEntry::row indexes it).
  std::vector<PenaltyEntry> penalties;
  int32_t num_tokens() const {
    int32_t n = 0;
    for (const ScheduledSeq& s : seqs) n += s.num_tokens;
    return n;
  }
  bool empty() const { return seqs.empty(); }
};

// What the executor returns for the logit rows of the entries that wanted them, in plan order.
struct StepOutput {
  int64_t vocab_size = 0;
  // [num_logit_rows] when the plan sampled on the devices: each row's token, or an error for a row
  // whose logits were not finite.
  std::vector<absl::StatusOr<SampledToken>> sampled;
  // [num_logit_rows, vocab_size] when the plan did not sample on the devices; empty otherwise.
  std::vector<float> logits;
  std::vector<int32_t> logit_index;  // per plan entry: its (first) logit row, or -1
};

}  // namespace tspserve
