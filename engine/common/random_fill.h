// The counter-based uniform generator behind Backend::FillRandom, for host code. The CUDA kernel
// (kernels/fill_random.cu) computes the same function; kernels/ cannot include engine/, so the
// formula is stated in Backend::FillRandom's contract and both follow it.
#pragma once

#include <cstdint>

namespace tspserve {

inline uint64_t SplitMix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Element `index` of FillRandom(seed, scale): uniform in [-scale, scale).
inline float RandomFillValue(uint64_t seed, uint64_t index, float scale) {
  const uint64_t bits = SplitMix64(seed + index * 0x9E3779B97F4A7C15ull) >> 40;  // 24 bits
  const float u = static_cast<float>(bits) * (1.0f / 16777216.0f);
  return (2.0f * u - 1.0f) * scale;
}

}  // namespace tspserve
