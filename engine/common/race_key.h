// The sampling race (the exponential race / Gumbel-max trick, as vLLM samples): a draw from
// softmax(logits / T) over a set of tokens is the token with the largest
//   key(id) = logit(id) / T + Gumbel(seed, step, id),
// Gumbel noise being -log(-log(u)) of a uniform u that is a pure function of the request's seed,
// the output position `step` and the token id. Because every token's noise is fixed in advance,
// the race splits over vocabulary shards exactly (each shard's winner, then the best of those),
// runs on any device, and gives a seeded request the same tokens under any batching, preemption,
// parallel mode or backend. Temperature 0 is greedy: key = logit.
//
// Backend::SampleRows (engine/backend/backend.h) states the same formula; kernels/ cannot include
// engine/, so kernels/sample_rows.cu follows that contract.
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/common/random_fill.h"

namespace tspserve {

// Uniform in (0, 1), never 0 or 1, for (seed, step, id).
inline double RaceUniform(uint64_t seed, uint64_t step, int64_t id) {
  uint64_t h = SplitMix64(seed ^ SplitMix64(step * 0x9E3779B97F4A7C15ull + 0xD1B54A32D192ED03ull));
  h = SplitMix64(h + static_cast<uint64_t>(id) * 0x9E3779B97F4A7C15ull);
  return (static_cast<double>(h >> 11) + 0.5) * 0x1.0p-53;
}

// The race key of token `id` with logit `logit`; -inf logits (masked tokens) never win.
inline double RaceKey(float logit, float temperature, uint64_t seed, uint64_t step, int64_t id) {
  if (temperature == 0.0f) return logit;
  return static_cast<double>(logit) / static_cast<double>(temperature) -
         std::log(-std::log(RaceUniform(seed, step, id)));
}

// The running winner of one race: the token with the largest key so far, the lowest id among
// equal keys (so the winner does not depend on the order tokens enter).
class RaceLeader {
 public:
  RaceLeader(float temperature, uint64_t seed, uint64_t step) : temperature_(temperature), seed_(seed), step_(step) {}

  void Enter(float logit, int64_t id) {
    const double key = RaceKey(logit, temperature_, seed_, step_, id);
    if (id_ < 0 || key > key_ || (key == key_ && id < id_)) key_ = key, id_ = id, logit_ = logit;
  }
  int64_t id() const { return id_; }   // -1 before any token entered
  float logit() const { return logit_; }

 private:
  float temperature_;
  uint64_t seed_;
  uint64_t step_;
  int64_t id_ = -1;
  double key_ = 0;
  float logit_ = 0;
};

}  // namespace tspserve
