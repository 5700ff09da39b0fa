#include "engine/scheduler/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/common/check.h"

namespace tspserve {

Scheduler::Scheduler(const SchedulerOptions& options, ShardedKvCache& kv_cache)
    : options_(options), kv_(kv_cache) {}

absl::Status Scheduler::Add(Sequence* seq) {
  const int64_t tokens = static_cast<int64_t>(seq->prompt.size()) + seq->max_tokens;
  const int64_t capacity = kv_.capacity_tokens();
  if (tokens > capacity) {
    return absl::FailedPreconditionError(absl::StrCat(
        "prompt (", seq->prompt.size(), " tokens) plus max_tokens (", seq->max_tokens,
        ") needs ", tokens, " KV slots but the cache holds ", capacity, " per sequence (",
        kv_.rank(0).num_blocks(), " pages of ", kv_.block_size(), " tokens on each of ",
        kv_.degree(), " ranks)"));
  }
  seq->status = SeqStatus::kWaiting;
  waiting_.push_back(seq);
  return absl::OkStatus();
}

ScheduledSeq Scheduler::Entry(const Sequence& seq, int32_t num_tokens) const {
  ScheduledSeq entry;
  entry.seq_id = seq.id;
  entry.first_position = seq.num_computed;
  entry.num_tokens = num_tokens;
  for (int32_t p = seq.num_computed; p < seq.num_computed + num_tokens; ++p) {
    entry.token_ids.push_back(seq.TokenAt(p));
  }
  entry.wants_logits = seq.num_computed + num_tokens == seq.num_tokens();
  return entry;
}

void Scheduler::Preempt(Sequence* seq) {
  kv_.Free(seq->id);
  seq->num_computed = 0;
  seq->status = SeqStatus::kWaiting;
  ++seq->num_preemptions;
  ++num_preemptions_;
  waiting_.push_front(seq);
}

// Every running sequence gets its next token if a page can be found, preempting the newest
// running sequences (which then get nothing this step) until it can.
void Scheduler::ScheduleDecodes(BatchPlan& plan, int32_t& budget, std::vector<int32_t>& reserved) {
  std::vector<Sequence*> kept;
  while (!running_.empty()) {
    Sequence* seq = running_.front();
    running_.erase(running_.begin());
    const int32_t n = seq->num_tokens() - seq->num_computed;  // 1 after a step, more when chunking
    const int32_t take = std::min(n, budget);
    if (take <= 0) {
      kept.push_back(seq);
      continue;
    }
    bool fits = kv_.Fits(seq->id, seq->num_computed, take, reserved);
    while (!fits && !running_.empty()) {
      Preempt(running_.back());
      running_.pop_back();
      fits = kv_.Fits(seq->id, seq->num_computed, take, reserved);
    }
    if (!fits) {  // nothing left to preempt but itself
      Preempt(seq);
      continue;
    }
    budget -= take;
    plan.seqs.push_back(Entry(*seq, take));
    kept.push_back(seq);
  }
  running_ = std::move(kept);
}

void Scheduler::ScheduleWaiting(BatchPlan& plan, int32_t& budget, std::vector<int32_t>& reserved) {
  while (!waiting_.empty() && static_cast<int32_t>(running_.size()) < options_.max_num_seqs) {
    Sequence* seq = waiting_.front();
    const int32_t remaining = seq->num_tokens() - seq->num_computed;
    int32_t take = std::min(remaining, budget);
    if (options_.whole_prompt_steps) {
      if (remaining > budget && !plan.empty()) break;
      take = remaining;  // whole; alone when over the budget
    }
    if (take <= 0) break;
    // First come, first served: a prompt that does not fit blocks those behind it.
    if (!kv_.Fits(seq->id, seq->num_computed, take, reserved)) break;
    waiting_.pop_front();
    budget -= take;
    seq->status = SeqStatus::kRunning;
    plan.seqs.push_back(Entry(*seq, take));
    running_.push_back(seq);
  }
}

BatchPlan Scheduler::Schedule() {
  BatchPlan plan;
  int32_t budget = options_.max_batched_tokens;
  std::vector<int32_t> reserved(static_cast<size_t>(kv_.degree()), 0);
  if (options_.whole_prompt_steps) {  // a step of prompts when any can start, else of decodes
    ScheduleWaiting(plan, budget, reserved);
    if (!plan.empty()) return plan;
    ScheduleDecodes(plan, budget, reserved);
    return plan;
  }
  ScheduleDecodes(plan, budget, reserved);
  ScheduleWaiting(plan, budget, reserved);
  return plan;
}

void Scheduler::Remove(SeqId id) {
  auto matches = [id](const Sequence* s) { return s->id == id; };
  running_.erase(std::remove_if(running_.begin(), running_.end(), matches), running_.end());
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), matches), waiting_.end());
  kv_.Free(id);
}

}  // namespace tspserve
