// BatchPlan: what one engine step runs, decided on the CPU by the scheduler and only read by the
// executor. Each entry processes `num_tokens` consecutive tokens of one sequence starting at
// `first_position` (a whole or chunked prompt, or one decode token).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kv/paged_kv_cache.h"

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
  // Every entry that wants logits is sampled greedily with nothing that needs the whole row
  // (no penalties, logprobs or banned tokens): the devices pick the tokens and only the picks
  // come back (StepOutput::picks), never the logits.
  bool greedy_only = false;
  int32_t num_tokens() const {
    int32_t n = 0;
    for (const ScheduledSeq& s : seqs) n += s.num_tokens;
    return n;
  }
  bool empty() const { return seqs.empty(); }
};

// A greedy step's token: the argmax (lowest id on ties) and its raw log-probability.
struct GreedyPick {
  int32_t token = 0;
  float logprob = 0.0f;
};

// What the executor returns: the logits row of every entry that wanted one, in plan order (or,
// for a greedy_only plan, one pick per row instead).
struct StepOutput {
  int64_t vocab_size = 0;
  std::vector<float> logits;        // [num_logit_rows, vocab_size]; empty when greedy_only
  std::vector<GreedyPick> picks;    // [num_logit_rows] when greedy_only
  std::vector<int32_t> logit_index; // per plan entry: its (first) row in `logits`, or -1
};

}  // namespace tspserve
