// Turns one position's logits into the next token for one request (vLLM's sampling semantics).
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/sampling/sampling_params.h"

namespace tspserve {

struct SampledToken {
  int32_t token = 0;
  // Log-probability of `token` under the raw model distribution: log_softmax of the logits as
  // given, before penalties, temperature and truncation (vLLM's default "raw_logprobs").
  float logprob = 0.0f;
  // The params.num_logprobs most likely tokens of that same raw distribution with their
  // log-probabilities, most likely first (lower id first on ties).
  std::vector<std::pair<int32_t, float>> top_logprobs;
};

class Sampler {
 public:
  // InvalidArgument when the params are out of range (see ValidateSamplingParams).
  static absl::StatusOr<Sampler> Create(const SamplingParams& params, int32_t vocab_size);

  // Samples from logits [vocab_size] (padded vocabulary entries already cut off by the caller).
  // Order, as vLLM: banned ids -> -inf, repetition penalty (prompt + output ids), frequency and
  // presence penalties (output ids), then argmax if temperature == 0, else temperature, top-k,
  // top-p, min-p, and a draw from the renormalized softmax: the race of the kept tokens
  // (engine/common/race_key.h) with step = output_token_ids.size(), so the draw of an output
  // position depends only on the seed, that position and the logits.
  // banned_token_ids: tokens that may not be chosen now (e.g. EOS before min_tokens).
  // Top-k keeps exactly k tokens; ties at the boundary keep the lower ids.
  // InvalidArgument for a wrong logits size, NaN or +inf logits, ids outside the vocabulary, or
  // when no token is left with a finite logit.
  absl::StatusOr<SampledToken> Sample(std::span<const float> logits,
                                      std::span<const int32_t> prompt_token_ids,
                                      std::span<const int32_t> output_token_ids,
                                      std::span<const int32_t> banned_token_ids = {});

  const SamplingParams& params() const { return params_; }
  // params().seed, or the random seed drawn for a request that set none.
  uint64_t seed() const { return seed_; }

 private:
  Sampler(const SamplingParams& params, int32_t vocab_size);

  // Logits after banned ids and penalties.
  absl::StatusOr<std::vector<float>> Process(std::span<const float> logits,
                                             std::span<const int32_t> prompt_token_ids,
                                             std::span<const int32_t> output_token_ids,
                                             std::span<const int32_t> banned_token_ids) const;
  // Temperature, top-k, top-p, min-p and the race of output position `step` over processed
  // logits with a finite maximum.
  int32_t Draw(std::span<const float> logits, uint64_t step) const;
  // Fills logprob and top_logprobs from the raw logits.
  void AddLogprobs(std::span<const float> raw_logits, SampledToken& sampled) const;

  SamplingParams params_;
  int32_t vocab_size_;
  uint64_t seed_;
};

}  // namespace tspserve
