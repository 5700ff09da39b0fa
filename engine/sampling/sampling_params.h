// Per-request sampling settings, with vLLM's meanings and allowed ranges.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/status.h"

namespace tspserve {

// Most alternatives a request may ask logprobs for (vLLM's default max_logprobs).
inline constexpr int32_t kMaxNumLogprobs = 20;

struct SamplingParams {
  float temperature = 1.0f;         // >= 0; 0 -> greedy (argmax, lowest id on ties)
  int32_t top_k = 0;                // -1 or 0 -> off; >= 1 keeps the k most likely tokens
  float top_p = 1.0f;               // (0, 1]; 1 -> off
  float min_p = 0.0f;               // [0, 1]; keeps tokens with p >= min_p * max p; 0 -> off
  float repetition_penalty = 1.0f;  // > 0; 1 -> off; over prompt and output tokens
  float presence_penalty = 0.0f;    // [-2, 2]; over output tokens
  float frequency_penalty = 0.0f;   // [-2, 2]; over output tokens
  std::optional<uint64_t> seed;     // same seed -> same tokens on every machine
  int32_t num_logprobs = 0;         // [0, kMaxNumLogprobs]: alternatives returned per token
};

// InvalidArgument naming the first bad field and its allowed range (vocab_size must be >= 1;
// top_k and num_logprobs may not exceed it).
absl::Status ValidateSamplingParams(const SamplingParams& params, int32_t vocab_size);

}  // namespace tspserve
