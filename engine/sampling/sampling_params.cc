#include "engine/sampling/sampling_params.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"

namespace tspserve {
namespace {

absl::Status OutOfRange(const char* field, const std::string& allowed, double value) {
  return absl::InvalidArgumentError(
      absl::StrCat("sampling parameter ", field, " must be ", allowed, ", got ", value));
}

absl::Status CheckFloats(const SamplingParams& p) {
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature)) {
    return OutOfRange("temperature", ">= 0 and finite", p.temperature);
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return OutOfRange("top_p", "in (0, 1]", p.top_p);
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return OutOfRange("min_p", "in [0, 1]", p.min_p);
  if (!(p.repetition_penalty > 0.0f) || !std::isfinite(p.repetition_penalty)) {
    return OutOfRange("repetition_penalty", "> 0 and finite", p.repetition_penalty);
  }
  if (!(p.presence_penalty >= -2.0f && p.presence_penalty <= 2.0f)) {
    return OutOfRange("presence_penalty", "in [-2, 2]", p.presence_penalty);
  }
  if (!(p.frequency_penalty >= -2.0f && p.frequency_penalty <= 2.0f)) {
    return OutOfRange("frequency_penalty", "in [-2, 2]", p.frequency_penalty);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& params, int32_t vocab_size) {
  if (vocab_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("vocab_size must be >= 1, got ", vocab_size));
  }
  RETURN_IF_ERROR(CheckFloats(params));
  if (params.top_k < -1 || params.top_k > vocab_size) {
    return OutOfRange("top_k",
                      absl::StrCat("-1 or 0 (off) or in [1, vocab_size = ", vocab_size, "]"),
                      params.top_k);
  }
  const int32_t max_logprobs = std::min(kMaxNumLogprobs, vocab_size);
  if (params.num_logprobs < 0 || params.num_logprobs > max_logprobs) {
    return OutOfRange("num_logprobs", absl::StrCat("in [0, ", max_logprobs, "]"),
                      params.num_logprobs);
  }
  return absl::OkStatus();
}

}  // namespace tspserve
