// The scheduler against a fake executor that only reserves KV slots and appends a token for each
// entry that wanted logits: timelines of who runs when, under page and token budgets.
#include "engine/scheduler/scheduler.h"

#include <map>
#include <memory>

#include <gtest/gtest.h>

namespace tspserve {
namespace {

class SchedulerTest : public testing::Test {
 protected:
  void Init(int32_t num_blocks, int32_t block_size, SchedulerOptions options) {
    kv_ = std::make_unique<ShardedKvCache>(1, num_blocks, block_size, KvPlacement::kSequenceSharded);
    scheduler_ = std::make_unique<Scheduler>(options, *kv_);
  }
  Sequence* Add(SeqId id, int32_t prompt_len, int32_t max_tokens) {
    auto seq = std::make_unique<Sequence>();
    seq->id = id;
    seq->prompt.assign(static_cast<size_t>(prompt_len), 1);
    seq->max_tokens = max_tokens;
    EXPECT_TRUE(scheduler_->Add(seq.get()).ok());
    return (seqs_[id] = std::move(seq)).get();
  }
  // Runs one step as the executor would, finishing sequences that reached max_tokens.
  BatchPlan Step() {
    BatchPlan plan = scheduler_->Schedule();
    for (const ScheduledSeq& s : plan.seqs) {
      EXPECT_TRUE(kv_->Append(s.seq_id, s.first_position, s.num_tokens).ok()) << "seq " << s.seq_id;
      Sequence& seq = *seqs_.at(s.seq_id);
      EXPECT_EQ(s.first_position, seq.num_computed);
      seq.num_computed += s.num_tokens;
      if (!s.wants_logits) continue;
      seq.output.push_back(2);
      if (static_cast<int32_t>(seq.output.size()) == seq.max_tokens) scheduler_->Remove(seq.id);
    }
    EXPECT_TRUE(kv_->CheckIntegrity().ok());
    return plan;
  }
  static std::vector<std::pair<SeqId, int32_t>> Entries(const BatchPlan& plan) {
    std::vector<std::pair<SeqId, int32_t>> shape;
    for (const ScheduledSeq& s : plan.seqs) shape.emplace_back(s.seq_id, s.num_tokens);
    return shape;
  }

  std::unique_ptr<ShardedKvCache> kv_;
  std::unique_ptr<Scheduler> scheduler_;
  std::map<SeqId, std::unique_ptr<Sequence>> seqs_;
};

using Shape = std::vector<std::pair<SeqId, int32_t>>;

TEST_F(SchedulerTest, DecodesFirstThenPrefillsUnderTheTokenBudget) {
  Init(64, 4, {.max_num_seqs = 8, .max_batched_tokens = 10});
  Add(1, 6, 3);
  Add(2, 7, 3);
  EXPECT_EQ(Entries(Step()), (Shape{{1, 6}, {2, 4}}));  // 2's prompt is chunked at the budget
  EXPECT_EQ(Entries(Step()), (Shape{{1, 1}, {2, 3}}));  // 1 decodes, 2 finishes its prompt
  EXPECT_EQ(Entries(Step()), (Shape{{1, 1}, {2, 1}}));
  EXPECT_EQ(Entries(Step()), (Shape{{2, 1}}));          // 1 reached max_tokens
  EXPECT_TRUE(scheduler_->empty());
  EXPECT_EQ(kv_->num_used_blocks(), 0);
}

TEST_F(SchedulerTest, WaitsForPagesFirstComeFirstServed) {
  Init(4, 4, {.max_num_seqs = 8, .max_batched_tokens = 100});
  Add(1, 12, 2);  // 3 pages now, 4 at most
  Add(2, 8, 1);   // 2 pages: must wait for 1
  Add(3, 1, 1);   // would fit, but does not overtake 2
  EXPECT_EQ(Entries(Step()), (Shape{{1, 12}}));
  EXPECT_EQ(Entries(Step()), (Shape{{1, 1}}));
  EXPECT_EQ(Entries(Step()), (Shape{{2, 8}, {3, 1}}));
  EXPECT_TRUE(scheduler_->empty());
}

TEST_F(SchedulerTest, PreemptsTheNewestWhenADecodeNeedsAPage) {
  Init(4, 2, {.max_num_seqs = 8, .max_batched_tokens = 100});
  Add(1, 4, 4);
  Add(2, 4, 4);
  EXPECT_EQ(Entries(Step()), (Shape{{1, 4}, {2, 4}}));  // all 4 pages used
  // 1 needs a fifth page for position 5: 2 is preempted and recomputed later with its output.
  EXPECT_EQ(Entries(Step()), (Shape{{1, 1}}));
  EXPECT_EQ(scheduler_->num_preemptions(), 1);
  EXPECT_EQ(seqs_.at(2)->num_computed, 0);
  EXPECT_EQ(seqs_.at(2)->num_preemptions, 1);
  while (!scheduler_->empty()) Step();
  EXPECT_EQ(seqs_.at(1)->output.size(), 4u);
  EXPECT_EQ(seqs_.at(2)->output.size(), 4u);
  EXPECT_EQ(kv_->num_used_blocks(), 0);
}

TEST_F(SchedulerTest, RespectsMaxNumSeqs) {
  Init(64, 4, {.max_num_seqs = 2, .max_batched_tokens = 100});
  Add(1, 2, 2);
  Add(2, 2, 2);
  Add(3, 2, 2);
  EXPECT_EQ(Entries(Step()), (Shape{{1, 2}, {2, 2}}));
  EXPECT_EQ(scheduler_->num_waiting(), 1);
  EXPECT_EQ(Entries(Step()), (Shape{{1, 1}, {2, 1}}));
  EXPECT_EQ(Entries(Step()), (Shape{{3, 2}}));
}

TEST_F(SchedulerTest, RejectsWhatCanNeverFitNamingTheLimit) {
  Init(4, 4, {});
  Sequence seq;
  seq.id = 9;
  seq.prompt.assign(10, 1);
  seq.max_tokens = 7;
  const absl::Status status = scheduler_->Add(&seq);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("17"), std::string::npos) << status;
  EXPECT_NE(status.message().find("16"), std::string::npos) << status;
  EXPECT_TRUE(scheduler_->empty());
}

TEST_F(SchedulerTest, RemoveFreesPagesOfRunningAndWaiting) {
  Init(8, 4, {.max_num_seqs = 8, .max_batched_tokens = 100});
  Add(1, 8, 5);
  Step();
  Add(2, 4, 5);
  scheduler_->Remove(1);
  scheduler_->Remove(2);
  EXPECT_TRUE(scheduler_->empty());
  EXPECT_EQ(kv_->num_used_blocks(), 0);
  EXPECT_TRUE(scheduler_->Schedule().empty());
}

}  // namespace
}  // namespace tspserve
