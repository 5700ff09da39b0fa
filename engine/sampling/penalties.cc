#include "engine/sampling/penalties.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"

namespace tspserve {
namespace {

absl::Status CheckIds(const char* name, std::span<const int32_t> ids, size_t vocab_size) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || static_cast<size_t>(ids[i]) >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, "[", i, "] = ", ids[i], " is outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

void PenalizeRepetition(float penalty, std::span<const int32_t> ids, std::vector<bool>& seen,
                        std::span<float> logits) {
  for (int32_t id : ids) {
    const size_t i = static_cast<size_t>(id);
    if (seen[i]) continue;
    seen[i] = true;
    logits[i] = logits[i] > 0.0f ? logits[i] / penalty : logits[i] * penalty;
  }
}

// Subtracts the frequency and presence penalties, counting tokens in a sorted copy of the output.
void PenalizeOutput(const SamplingParams& params, std::span<const int32_t> output,
                    std::span<float> logits) {
  std::vector<int32_t> sorted(output.begin(), output.end());
  std::sort(sorted.begin(), sorted.end());
  for (size_t begin = 0; begin < sorted.size();) {
    size_t end = begin;
    while (end < sorted.size() && sorted[end] == sorted[begin]) ++end;
    const float count = static_cast<float>(end - begin);
    logits[static_cast<size_t>(sorted[begin])] -=
        params.frequency_penalty * count + params.presence_penalty;
    begin = end;
  }
}

}  // namespace

absl::Status ApplyPenalties(const SamplingParams& params, std::span<const int32_t> prompt_token_ids,
                            std::span<const int32_t> output_token_ids, std::span<float> logits) {
  const bool repetition = params.repetition_penalty != 1.0f;
  const bool output_penalties = params.frequency_penalty != 0.0f || params.presence_penalty != 0.0f;
  if (repetition || output_penalties) {
    RETURN_IF_ERROR(CheckIds("output_token_ids", output_token_ids, logits.size()));
  }
  if (repetition) {
    RETURN_IF_ERROR(CheckIds("prompt_token_ids", prompt_token_ids, logits.size()));
    std::vector<bool> seen(logits.size(), false);
    PenalizeRepetition(params.repetition_penalty, prompt_token_ids, seen, logits);
    PenalizeRepetition(params.repetition_penalty, output_token_ids, seen, logits);
  }
  if (output_penalties) PenalizeOutput(params, output_token_ids, logits);
  return absl::OkStatus();
}

}  // namespace tspserve
