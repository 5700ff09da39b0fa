// The sampler's random numbers: xoshiro256** seeded through splitmix64, with a uniform double built
// from bits. Written out here (no std:: distributions) so a seed gives the same stream with every
// compiler and standard library.
#pragma once

#include <cstdint>

namespace tspserve {

class Rng {
 public:
  explicit Rng(uint64_t seed);

  // The next 64 random bits.
  uint64_t Next();
  // Uniform in [0, 1) with 53 random bits.
  double Uniform();

 private:
  uint64_t state_[4];
};

// A seed from std::random_device, for requests that do not set one.
uint64_t RandomSeed();

}  // namespace tspserve
