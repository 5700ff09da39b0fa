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

std::vector<int32_t> DistinctSorted(std::span<const int32_t> ids) {
  std::vector<int32_t> distinct(ids.begin(), ids.end());
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  return distinct;
}

void AppendPenaltyEntries(const SamplingParams& params, std::span<const int32_t> distinct_prompt_ids,
                          std::span<const int32_t> output_token_ids,
                          std::span<const int32_t> banned_token_ids, int32_t row,
                          std::vector<PenaltyEntry>& entries) {
  const bool repetition = params.repetition_penalty != 1.0f;
  const bool output_penalties = params.frequency_penalty != 0.0f || params.presence_penalty != 0.0f;
  // (id, output count) of every distinct output id.
  std::vector<int32_t> output(output_token_ids.begin(), output_token_ids.end());
  std::sort(output.begin(), output.end());
  std::vector<PenaltyEntry> row_entries;
  size_t p = 0;
  auto add_prompt_ids_below = [&](int64_t limit) {
    for (; repetition && p < distinct_prompt_ids.size() && distinct_prompt_ids[p] < limit; ++p) {
      row_entries.push_back({row, distinct_prompt_ids[p], 0});
    }
  };
  if (repetition || output_penalties) {
    for (size_t begin = 0; begin < output.size();) {
      size_t end = begin;
      while (end < output.size() && output[end] == output[begin]) ++end;
      add_prompt_ids_below(output[begin]);
      if (repetition && p < distinct_prompt_ids.size() && distinct_prompt_ids[p] == output[begin]) ++p;
      row_entries.push_back({row, output[begin], static_cast<int32_t>(end - begin)});
      begin = end;
    }
    add_prompt_ids_below(INT64_MAX);
  }
  for (int32_t id : DistinctSorted(banned_token_ids)) {
    auto it = std::lower_bound(row_entries.begin(), row_entries.end(), id,
                               [](const PenaltyEntry& e, int32_t value) { return e.id < value; });
    if (it != row_entries.end() && it->id == id) {
      it->count = kBannedCount;
    } else {
      row_entries.insert(it, {row, id, kBannedCount});
    }
  }
  entries.insert(entries.end(), row_entries.begin(), row_entries.end());
}

}  // namespace tspserve
