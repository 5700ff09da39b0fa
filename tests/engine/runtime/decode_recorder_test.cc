#include "engine/runtime/decode_recorder.h"

#include <gtest/gtest.h>

#include <vector>

namespace tspserve {
namespace {

// A plan of `tokens` decode entries (or one prompt of `tokens` tokens) and two ranks' steps whose
// batches hold `pages` pages of `keys_per_page` keys each, one sequence per page run.
struct Step {
  BatchPlan plan;
  std::vector<RankStep> steps;
};

Step MakeStep(int32_t tokens, int32_t pages, int32_t keys_per_page, bool prompt = false) {
  Step s;
  if (prompt) {
    s.plan.seqs.push_back({1, 0, tokens, std::vector<int32_t>(static_cast<size_t>(tokens), 0), true});
  } else {
    for (int32_t i = 0; i < tokens; ++i) s.plan.seqs.push_back({static_cast<SeqId>(i + 1), 40, 1, {0}, true});
  }
  for (int32_t r = 0; r < 2; ++r) {
    RankStep step;
    step.all.token_ids.assign(static_cast<size_t>(tokens), 0);
    step.all.query_start = {0, tokens};
    step.all.page_start = {0, pages + r};  // rank 1 holds one page more
    step.all.page_first_slot.assign(static_cast<size_t>(pages + r), 0);
    step.all.page_first_position.assign(static_cast<size_t>(pages + r), 0);
    step.all.page_num_tokens.assign(static_cast<size_t>(pages + r), keys_per_page);
    s.steps.push_back(step);
  }
  return s;
}

StepRecording Decide(DecodeRecorder& recorder, Step s, const MemoryGenerations& before, const MemoryGenerations& after,
                     bool ok = true) {
  recorder.Plan(s.plan, s.steps, before);
  const StepRecording decided = s.steps[0].recording;
  EXPECT_EQ(s.steps[1].recording, decided);
  recorder.Finished(s.steps, after, ok);
  return decided;
}

TEST(DecodeRecorderTest, WarmsUpRecordsThenReplaysEachShape) {
  DecodeRecorder recorder(/*can_record=*/true);
  const MemoryGenerations g = {{1, 0}, {1, 0}};
  EXPECT_EQ(Decide(recorder, MakeStep(3, 10, 16), g, g), StepRecording::kEager);
  EXPECT_EQ(Decide(recorder, MakeStep(3, 10, 16), g, g), StepRecording::kRecord);
  EXPECT_EQ(Decide(recorder, MakeStep(3, 10, 16), g, g), StepRecording::kReplay);
  // More pages and keys inside the same buckets: the same recording.
  EXPECT_EQ(Decide(recorder, MakeStep(3, 40, 5), g, g), StepRecording::kReplay);
  // Another token count is another shape.
  EXPECT_EQ(Decide(recorder, MakeStep(4, 10, 16), g, g), StepRecording::kEager);
}

TEST(DecodeRecorderTest, FixedShapesAreBucketedUpperBoundsTheSameOnEveryRank) {
  DecodeRecorder recorder(/*can_record=*/true);
  Step s = MakeStep(2, 70, 9);  // rank 1: 71 pages, 639 keys
  recorder.Plan(s.plan, s.steps, {{0, 0}, {0, 0}});
  for (const RankStep& step : s.steps) {
    EXPECT_EQ(step.fixed_shapes.pages, 128);
    EXPECT_EQ(step.fixed_shapes.max_keys, 1024);
    EXPECT_GE(step.fixed_shapes.max_pages, 71);
  }
}

TEST(DecodeRecorderTest, MovedBuffersSendTheShapeBackToAWarmUp) {
  DecodeRecorder recorder(/*can_record=*/true);
  const MemoryGenerations g = {{1, 0}, {1, 0}}, grown = {{2, 0}, {1, 0}};
  Decide(recorder, MakeStep(1, 3, 7), g, g);
  Decide(recorder, MakeStep(1, 3, 7), g, g);
  EXPECT_EQ(Decide(recorder, MakeStep(1, 3, 7), grown, grown), StepRecording::kEager);  // grew before
  EXPECT_EQ(Decide(recorder, MakeStep(1, 3, 7), grown, grown), StepRecording::kRecord);
  // A buffer growing during the recording step (the LM head's, say) leaves the recording stale.
  const MemoryGenerations later = {{2, 1}, {1, 0}};
  Decide(recorder, MakeStep(2, 3, 7), later, later);
  EXPECT_EQ(Decide(recorder, MakeStep(2, 3, 7), later, {{3, 1}, {1, 0}}), StepRecording::kRecord);
  EXPECT_EQ(Decide(recorder, MakeStep(2, 3, 7), {{3, 1}, {1, 0}}, {{3, 1}, {1, 0}}), StepRecording::kEager);
}

TEST(DecodeRecorderTest, PromptsAndBackendsThatCannotRecordRunEagerly) {
  DecodeRecorder recorder(/*can_record=*/true);
  const MemoryGenerations g = {{0, 0}, {0, 0}};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Decide(recorder, MakeStep(5, 2, 3, /*prompt=*/true), g, g), StepRecording::kNone);
  EXPECT_EQ(Decide(recorder, MakeStep(DecodeRecorder::kMaxRecordedTokens + 1, 2, 3), g, g), StepRecording::kNone);
  DecodeRecorder cpu(/*can_record=*/false);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Decide(cpu, MakeStep(2, 2, 3), g, g), StepRecording::kEager);
}

TEST(DecodeRecorderTest, FailedStepsAndEntriesWithoutLogitsAreNotRecorded) {
  DecodeRecorder recorder(/*can_record=*/true);
  const MemoryGenerations g = {{0, 0}, {0, 0}};
  EXPECT_EQ(Decide(recorder, MakeStep(2, 4, 4), g, g, /*ok=*/false), StepRecording::kEager);
  EXPECT_EQ(Decide(recorder, MakeStep(2, 4, 4), g, g), StepRecording::kEager);  // the warm-up again
  EXPECT_EQ(Decide(recorder, MakeStep(2, 4, 4), g, g), StepRecording::kRecord);
  Step chunk = MakeStep(2, 4, 4);
  chunk.plan.seqs[1].wants_logits = false;  // a one-token prompt chunk: fewer logit rows than tokens
  EXPECT_EQ(Decide(recorder, chunk, g, g), StepRecording::kNone);
}

TEST(DecodeRecorderTest, RecordsAtMostKMaxRecordingsShapes) {
  DecodeRecorder recorder(/*can_record=*/true);
  const MemoryGenerations g = {{0, 0}, {0, 0}};
  for (int32_t tokens = 1; tokens <= DecodeRecorder::kMaxRecordings; ++tokens) {
    Decide(recorder, MakeStep(tokens, 4, 4), g, g);
    ASSERT_EQ(Decide(recorder, MakeStep(tokens, 4, 4), g, g), StepRecording::kRecord) << tokens;
  }
  const int32_t one_more = DecodeRecorder::kMaxRecordings + 1;
  Decide(recorder, MakeStep(one_more, 4, 4), g, g);
  EXPECT_EQ(Decide(recorder, MakeStep(one_more, 4, 4), g, g), StepRecording::kEager);
  EXPECT_EQ(Decide(recorder, MakeStep(1, 4, 4), g, g), StepRecording::kReplay);  // the first ones still replay
}

}  // namespace
}  // namespace tspserve
