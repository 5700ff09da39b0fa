// Logit penalties for repeated tokens, as vLLM applies them before temperature.
#pragma once

#include <cstdint>
#include <span>

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

}  // namespace tspserve
