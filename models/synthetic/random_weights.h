// Deterministic pseudo-random weights: element i of a tensor is a pure function of (seed, tensor
// name, i), so any slice can be produced independently, in any order, on any machine.
#pragma once

#include <cstdint>
#include <string_view>

namespace tspserve {

class RandomWeights {
 public:
  RandomWeights(uint64_t seed, std::string_view tensor_name);
  // Uniform in [-scale, scale) for elements [begin, begin + count).
  void FillUniform(int64_t begin, int64_t count, float scale, float* out) const;

 private:
  uint64_t key_;
};

}  // namespace tspserve
