// ParallelForward::RecordedLayers: the replicated layers of a decode step run as one recording
// (a CUDA graph) instead of one launch per op. The executor decides, the same for every rank, when
// a (token count, fixed shapes) pair is recorded and when replayed, after an eager warm-up at
// those shapes has grown every buffer the layers use; the upload before and the LM head after
// run eagerly. A rank whose buffers moved since its recording runs the layers eagerly instead:
// the collectives are the same either way, so its peers are not affected.
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
    if (it == recordings_.end() || it->second.generations != now) return ReplicatedLayers(step, up);
    it->second.recording->Replay();
    ++replayed_steps_;
    return model_.Scratch(kHidden, dtype_, static_cast<int64_t>(step.all.logit_rows.size()), model_.config().hidden_size);
  }
  // Recordings made before a buffer moved hold stale addresses.
  std::erase_if(recordings_, [&](const auto& entry) { return entry.second.generations != now; });
  backend_.BeginRecording();
  absl::StatusOr<Tensor> hidden = ReplicatedLayers(step, up);
  absl::StatusOr<std::unique_ptr<Backend::Recording>> recording = backend_.EndRecording();
  RETURN_IF_ERROR(hidden.status());
  RETURN_IF_ERROR(recording.status());
  (*recording)->Replay();  // recording ran nothing
  ++replayed_steps_;
  recordings_[key] = RecordedStep{*std::move(recording), now};
  return hidden;
}

}  // namespace tspserve
