// Logit penalties for repeated tokens, as vLLM applies them before temperature.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "engine/sampling/sampling_params.h"

namespace tspserve {

// In place on logits [vocab_size], in this order:
//  - repetition_penalty r, once per distinct token of prompt + output: positive logits are divided
//    by r, negative ones multiplied by r;
//  - frequency and presence penalties, over output tokens only:
//    logit -= frequency_penalty * count + presence_penalty * (count > 0).
// Token ids are read only when a penalty that needs them is active; an id outside
// [0, vocab_size) is InvalidArgument naming the list and index, with logits left unchanged.
absl::Status ApplyPenalties(const SamplingParams& params, std::span<const int32_t> prompt_token_ids,
                            std::span<const int32_t> output_token_ids, std::span<float> logits);

// The same penalties on the devices (Backend::PenalizeLogits): one entry per distinct token of a
// logit row that a penalty or a ban touches, with its number of occurrences in the output, or
// kBannedCount for a token the row may not choose now.
struct PenaltyEntry {
  int32_t row = 0;
  int32_t id = 0;
  int32_t count = 0;
};
inline constexpr int32_t kBannedCount = -1;

// The distinct ids of `ids`, sorted (a prompt's, computed once per request).
std::vector<int32_t> DistinctSorted(std::span<const int32_t> ids);

// Appends row `row`'s entries, sorted by id: every distinct id of prompt and output when the
// repetition penalty is on, else the output's distinct ids when a frequency or presence penalty
// is on, each with its output count; and every banned id with kBannedCount (a ban overrides the
// penalties). distinct_prompt_ids: DistinctSorted of the prompt.
void AppendPenaltyEntries(const SamplingParams& params, std::span<const int32_t> distinct_prompt_ids,
                          std::span<const int32_t> output_token_ids,
                          std::span<const int32_t> banned_token_ids, int32_t row,
                          std::vector<PenaltyEntry>& entries);

}  // namespace tspserve
