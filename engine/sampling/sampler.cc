#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "engine/common/race_key.h"
#include "engine/common/status.h"
#include "engine/sampling/penalties.h"
#include "engine/sampling/truncation.h"

namespace tspserve {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// NaN and +inf have no probability; -inf is a masked token.
absl::Status CheckLogits(std::span<const float> logits) {
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i]) || logits[i] == std::numeric_limits<float>::infinity()) {
      return absl::InvalidArgumentError(absl::StrCat("logits[", i, "] is ", logits[i]));
    }
  }
  return absl::OkStatus();
}

// Lowest id among the largest values.
int32_t ArgMax(std::span<const float> values) {
  return static_cast<int32_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

// log(sum(exp(logits))) in double; -inf when every logit is -inf.
double LogSumExp(std::span<const float> logits, float max_logit) {
  if (max_logit == kNegInf) return kNegInf;
  double sum = 0.0;
  for (float logit : logits) sum += std::exp(static_cast<double>(logit) - max_logit);
  return max_logit + std::log(sum);
}

// A seed from std::random_device, for requests that do not set one.
uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace

absl::StatusOr<Sampler> Sampler::Create(const SamplingParams& params, int32_t vocab_size) {
  RETURN_IF_ERROR(ValidateSamplingParams(params, vocab_size));
  return Sampler(params, vocab_size);
}

Sampler::Sampler(const SamplingParams& params, int32_t vocab_size)
    : params_(params), vocab_size_(vocab_size), seed_(params.seed.value_or(RandomSeed())) {}

absl::StatusOr<SampledToken> Sampler::Sample(std::span<const float> logits,
                                             std::span<const int32_t> prompt_token_ids,
                                             std::span<const int32_t> output_token_ids,
                                             std::span<const int32_t> banned_token_ids) {
  if (logits.size() != static_cast<size_t>(vocab_size_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("logits has ", logits.size(), " entries, vocab_size is ", vocab_size_));
  }
  RETURN_IF_ERROR(CheckLogits(logits));
  ASSIGN_OR_RETURN(std::vector<float> processed,
                   Process(logits, prompt_token_ids, output_token_ids, banned_token_ids));
  const int32_t best = ArgMax(processed);
  if (processed[static_cast<size_t>(best)] == kNegInf) {
    return absl::InvalidArgumentError("no token has a finite logit after banning and penalties");
  }
  SampledToken sampled;
  sampled.token = params_.temperature == 0.0f ? best : Draw(processed, output_token_ids.size());
  AddLogprobs(logits, sampled);
  return sampled;
}

absl::StatusOr<std::vector<float>> Sampler::Process(
    std::span<const float> logits, std::span<const int32_t> prompt_token_ids,
    std::span<const int32_t> output_token_ids, std::span<const int32_t> banned_token_ids) const {
  std::vector<float> processed(logits.begin(), logits.end());
  for (size_t i = 0; i < banned_token_ids.size(); ++i) {
    const int32_t id = banned_token_ids[i];
    if (id < 0 || id >= vocab_size_) {
      return absl::InvalidArgumentError(
          absl::StrCat("banned_token_ids[", i, "] = ", id, " is outside the vocabulary"));
    }
    processed[static_cast<size_t>(id)] = kNegInf;
  }
  RETURN_IF_ERROR(ApplyPenalties(params_, prompt_token_ids, output_token_ids, processed));
  return processed;
}

int32_t Sampler::Draw(std::span<const float> logits, uint64_t step) const {
  const bool top_k = params_.top_k > 0 && params_.top_k < vocab_size_;
  const bool top_p = params_.top_p < 1.0f;
  std::vector<int32_t> ids;
  if (top_k) {
    ids = TopIndices(logits, params_.top_k);
  } else if (top_p) {
    ids = TopPIndices(logits, params_.temperature, params_.top_p);
  } else {
    ids.resize(logits.size());
    std::iota(ids.begin(), ids.end(), 0);
  }
  if ((top_k && top_p) || params_.min_p > 0.0f) {  // the truncations that weigh the kept ids
    const float max_logit = logits[static_cast<size_t>(ArgMax(logits))];
    std::vector<double> weights = SoftmaxWeights(logits, ids, params_.temperature, max_logit);
    if (top_k && top_p) {
      const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
      const int32_t keep = TopPCount(weights, total, params_.top_p);
      ids.resize(static_cast<size_t>(keep));
      weights.resize(static_cast<size_t>(keep));
    }
    if (params_.min_p > 0.0f) ApplyMinP(params_.min_p, ids, weights);
  }
  RaceLeader race(params_.temperature, seed_, step);  // over the kept tokens
  for (int32_t id : ids) race.Enter(logits[static_cast<size_t>(id)], id);
  return static_cast<int32_t>(race.id());
}

void Sampler::AddLogprobs(std::span<const float> raw_logits, SampledToken& sampled) const {
  const float max_logit = raw_logits[static_cast<size_t>(ArgMax(raw_logits))];
  const double log_z = LogSumExp(raw_logits, max_logit);
  auto logprob = [&](int32_t id) {
    return static_cast<float>(raw_logits[static_cast<size_t>(id)] - log_z);
  };
  sampled.logprob = logprob(sampled.token);
  for (int32_t id : TopIndices(raw_logits, params_.num_logprobs)) {
    sampled.top_logprobs.emplace_back(id, logprob(id));
  }
}

}  // namespace tspserve
