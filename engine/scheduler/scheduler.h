// Scheduler: continuous batching. Each step it decodes every running sequence (one token each),
// then fills the rest of the token budget with waiting prompts (first come, first served, chunked
// when a prompt exceeds the budget). A prompt is admitted only when the KV pages its chunk needs
// are free; when a running sequence cannot get a page for its next token, the most recently
// admitted running sequence is preempted: its pages are freed and it waits to be recomputed.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/status/status.h"
#include "engine/kv/sharded_kv_cache.h"
#include "engine/scheduler/batch_plan.h"
#include "engine/scheduler/sequence.h"

namespace tspserve {

struct SchedulerOptions {
  int32_t max_num_seqs = 256;         // sequences running at once
  int32_t max_batched_tokens = 8192;  // tokens in one step (decodes + prefill chunks)
  // Prompts run whole, in steps of their own (a prompt longer than the budget runs alone): the
  // sequence-sharded prefill schedules need every key of a prompt in the step that computes it.
  bool whole_prompt_steps = false;
};

class Scheduler {
 public:
  // `kv_cache` is the cache the executor appends to; the scheduler frees pages through it.
  Scheduler(const SchedulerOptions& options, ShardedKvCache& kv_cache);

  // Queues a sequence (not owned; it must outlive its time here). FailedPrecondition, naming the
  // limit, when the sequence could never fit in the whole cache.
  absl::Status Add(Sequence* seq);
  BatchPlan Schedule();
  // Forgets a sequence whatever its state and frees its pages (finish, cancel, error).
  void Remove(SeqId id);

  int32_t num_running() const { return static_cast<int32_t>(running_.size()); }
  int32_t num_waiting() const { return static_cast<int32_t>(waiting_.size()); }
  int64_t num_preemptions() const { return num_preemptions_; }
  bool empty() const { return running_.empty() && waiting_.empty(); }

 private:
  void ScheduleDecodes(BatchPlan& plan, int32_t& budget, std::vector<int32_t>& reserved);
  void ScheduleWaiting(BatchPlan& plan, int32_t& budget, std::vector<int32_t>& reserved);
  void Preempt(Sequence* seq);
  ScheduledSeq Entry(const Sequence& seq, int32_t num_tokens) const;

  SchedulerOptions options_;
  ShardedKvCache& kv_;
  std::vector<Sequence*> running_;  // in admission order
  std::deque<Sequence*> waiting_;
  int64_t num_preemptions_ = 0;
};

}  // namespace tspserve
