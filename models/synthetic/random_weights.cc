#include "models/synthetic/random_weights.h"

namespace tspserve {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

}  // namespace

RandomWeights::RandomWeights(uint64_t seed, std::string_view tensor_name)
    : key_(SplitMix64(seed) ^ Fnv1a(tensor_name)) {}

void RandomWeights::FillUniform(int64_t begin, int64_t count, float scale, float* out) const {
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t bits = SplitMix64(key_ + static_cast<uint64_t>(begin + i));
    // 24 random bits -> [0, 1) exactly representable in float, then to [-scale, scale).
    const float unit = static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);
    out[i] = (2.0f * unit - 1.0f) * scale;
  }
}

}  // namespace tspserve
