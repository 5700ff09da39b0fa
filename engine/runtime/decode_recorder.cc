#include "engine/runtime/decode_recorder.h"

#include <algorithm>

namespace tspserve {
namespace {

int64_t NextPowerOfTwo(int64_t n, int64_t at_least) {
  int64_t p = at_least;
  while (p < n) p *= 2;
  return p;
}

bool DecodeOnly(const BatchPlan& plan, const std::vector<RankStep>& steps) {
  if (plan.seqs.empty() || steps.empty() || steps[0].prefill_only) return false;
  if (plan.num_tokens() > DecodeRecorder::kMaxRecordedTokens) return false;
  // Every entry one token that wants its logits: the layers' shapes then depend on the token count
  // alone (as many logit rows as tokens).
  return std::all_of(plan.seqs.begin(), plan.seqs.end(),
                     [](const ScheduledSeq& e) { return e.num_tokens == 1 && e.wants_logits && !e.all_logits; });
}

}  // namespace

DecodeRecorder::Key DecodeRecorder::KeyOf(const RankStep& step) {
  return {step.all.num_tokens(), step.fixed_shapes.pages, step.fixed_shapes.max_keys};
}

void DecodeRecorder::Plan(const BatchPlan& plan, std::vector<RankStep>& steps,
                          const MemoryGenerations& generations) {
  if (!DecodeOnly(plan, steps)) return;
  // The same bounds on every rank: the most pages and keys any rank's batch has.
  int64_t pages = 0, keys = 0;
  for (const RankStep& step : steps) {
    pages = std::max<int64_t>(pages, static_cast<int64_t>(step.all.page_first_slot.size()));
    keys = std::max(keys, step.all.max_keys());
  }
  FixedUploadShapes fixed;
  fixed.pages = NextPowerOfTwo(pages, 64);
  fixed.max_keys = NextPowerOfTwo(keys, 256);
  fixed.max_pages = static_cast<int32_t>(fixed.max_keys);  // a page holds at least one key
  planned_generations_ = generations;
  StepRecording recording = StepRecording::kEager;
  const Key key{steps[0].all.num_tokens(), fixed.pages, fixed.max_keys};
  const auto it = shapes_.find(key);
  if (can_record_ && it != shapes_.end() && it->second.warm && it->second.generations == generations) {
    recording = it->second.recorded ? StepRecording::kReplay : StepRecording::kRecord;
  }
  if (recording == StepRecording::kRecord && recorded_shapes_ >= kMaxRecordings) recording = StepRecording::kEager;
  for (RankStep& step : steps) {
    step.recording = recording;
    step.fixed_shapes = fixed;
  }
}

void DecodeRecorder::Finished(const std::vector<RankStep>& steps, const MemoryGenerations& generations, bool ok) {
  if (steps.empty() || steps[0].recording == StepRecording::kNone) return;
  Shape& shape = shapes_[KeyOf(steps[0])];
  if (!ok) {  // a failed step may not have grown every buffer, or left a recording behind
    shape.warm = shape.recorded = false;
    return;
  }
  switch (steps[0].recording) {
    case StepRecording::kEager:
      shape.warm = true;
      shape.recorded = false;
      break;
    case StepRecording::kRecord:  // a buffer moving during the step leaves the recording stale
      shape.recorded = generations == planned_generations_;
      shape.warm = shape.recorded;
      if (shape.recorded) ++recorded_shapes_;
      break;
    case StepRecording::kReplay:
      if (generations != shape.generations) shape.warm = shape.recorded = false;
      break;
    case StepRecording::kNone:
      break;
  }
  if (steps[0].recording != StepRecording::kReplay) shape.generations = generations;
}

}  // namespace tspserve
