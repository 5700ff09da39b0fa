// RankStep: what one rank reads to run one step, laid out on the engine thread from the plan and
// the page tables of every rank (plan on the CPU; rank workers only read it).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kv/sharded_kv_cache.h"
#include "engine/scheduler/batch_plan.h"
#include "models/forward_batch.h"

namespace tspserve {

// How a replicated decode step runs when the executor records decode steps
// (ExecutorOptions::decode_graphs): with fixed upload shapes either way, eagerly, recorded (then
// replayed) or as a replay of the recording made for the same token count and shapes.
enum class StepRecording { kNone, kEager, kRecord, kReplay };

struct RankStep {
  int32_t rank = 0;  // the page-table rank (the sequence group under TP x SP)
  // Every entry is a whole prompt from position 0: the sequence-sharded prefill applies.
  bool prefill_only = false;
  std::vector<RowSampling> sampling;    // BatchPlan::sampling: the LM head samples on the devices
  std::vector<PenaltyEntry> penalties;  // BatchPlan::penalties
  StepRecording recording = StepRecording::kNone;
  FixedUploadShapes fixed_shapes;  // with recording != kNone: the same on every rank
  // Every token of the step in plan order. slot_mapping: this rank's slot, or -1 when another
  // rank stores the token. Pages: this rank's pages of each sequence. logit_rows: plan order.
  ForwardBatch all;
  // Sequence-sharded view (filled when prefill_only). `local` holds this rank's tokens in plan
  // order; its pages describe the step's keys after an all-gather of every rank's local tokens
  // (rank-major rows; each run of rows with consecutive positions is one page); its logit_rows index local tokens.
  ForwardBatch local;
  std::vector<std::vector<int32_t>> token_ids_by_rank;  // every rank's local token ids
  std::vector<int64_t> tokens_per_rank;     // local token counts of every rank
  std::vector<int64_t> logit_rows_per_rank; // local logit rows of every rank
  // For the gathered (rank-major) logit rows: each one's index in all.logit_rows order.
  std::vector<int32_t> logit_order;
};

// Lays out the step for every rank. `slots[e]` are the slots ShardedKvCache::Append returned for
// plan entry e (after the append, so page tables include this step's tokens).
std::vector<RankStep> LayOutStep(const BatchPlan& plan, const std::vector<std::vector<TokenSlot>>& slots,
                                 const ShardedKvCache& kv, bool sequence_sharded_prefill);

// Row index in all.logit_rows order of each plan entry's first logit row, or -1.
std::vector<int32_t> LogitIndex(const BatchPlan& plan);

}  // namespace tspserve
