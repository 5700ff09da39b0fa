// ParallelForward::RecordedLayers: the replicated layers of a decode step run as one recording
// (a CUDA graph) instead of one launch per op. The executor decides, the same for every rank, when
// a (token count, fixed shapes) pair is recorded and when replayed, after an eager warm-up at
// those shapes has grown every buffer the layers use; the upload before and the LM head after
// run eagerly. Whether a collective is recorded must be the same on every rank (NCCL), so a rank
// never deviates from the decision: a recording that fails, or a replay whose buffers moved, is a
// broken invariant of the executor's bookkeeping and stops the process with a message, rather
// than leave its peers waiting in a collective.
#include "engine/common/check.h"
#include "engine/common/status.h"
#include "engine/parallel/parallel_forward.h"
#include "engine/parallel/scratch_slots.h"

namespace tspserve {

absl::StatusOr<Tensor> ParallelForward::RecordedLayers(const RankStep& step, const UploadedBatch& up) {
  const bool records = step.recording == StepRecording::kRecord || step.recording == StepRecording::kReplay;
  if (!records || !backend_.can_record()) return ReplicatedLayers(step, up);
  const auto key = std::make_tuple(static_cast<int64_t>(step.all.num_tokens()), step.fixed_shapes.pages,
                                   step.fixed_shapes.max_keys);
  const std::pair<uint64_t, uint64_t> now{model_.memory_generation(), backend_.workspace_generation()};
  if (step.recording == StepRecording::kReplay) {
    const auto it = recordings_.find(key);
    CHECK(it != recordings_.end()) << "no recording of this decode shape to replay; run without --decode-graphs";
    CHECK(it->second.generations == now) << "a buffer of a recorded decode step moved; run without --decode-graphs";
    it->second.recording->Replay();
    ++replayed_steps_;
    return model_.Scratch(kHidden, dtype_, static_cast<int64_t>(step.all.logit_rows.size()), model_.config().hidden_size);
  }
  // Recordings made before a buffer moved hold stale addresses.
  std::erase_if(recordings_, [&](const auto& entry) { return entry.second.generations != now; });
  backend_.BeginRecording();
  absl::StatusOr<Tensor> hidden = ReplicatedLayers(step, up);
  absl::StatusOr<std::unique_ptr<Backend::Recording>> recording = backend_.EndRecording();
  CHECK(hidden.ok() && recording.ok()) << "recording a decode step failed ("
                                       << (hidden.ok() ? recording.status() : hidden.status())
                                       << "); run without --decode-graphs";
  (*recording)->Replay();  // recording ran nothing
  ++replayed_steps_;
  recordings_[key] = RecordedStep{*std::move(recording), now};
  return hidden;
}

}  // namespace tspserve
