#include "models/rope.h"

#include <cmath>
#include <numbers>

namespace tspserve {
namespace {

// Llama 3 keeps high frequencies, divides low ones by `factor`, and blends in between.
float Llama3Scale(float inv_freq, const RopeScaling& s) {
  const double old_context = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / s.low_freq_factor;
  const double high_freq_wavelen = old_context / s.high_freq_factor;
  const double wavelen = 2 * std::numbers::pi / inv_freq;
  if (wavelen < high_freq_wavelen) return inv_freq;
  if (wavelen > low_freq_wavelen) return static_cast<float>(inv_freq / s.factor);
  const double smooth = (old_context / wavelen - s.low_freq_factor) /
                        (s.high_freq_factor - s.low_freq_factor);
  return static_cast<float>((1 - smooth) * inv_freq / s.factor + smooth * inv_freq);
}

}  // namespace

std::vector<float> RopeInverseFrequencies(const ModelConfig& config) {
  const int64_t dim = config.head_dim;
  std::vector<float> inv_freq(static_cast<size_t>(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    // transformers: 1 / base ** (arange(0, dim, 2).float() / dim), in float32.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    float f = static_cast<float>(1.0 / std::pow(config.rope_theta, static_cast<double>(exponent)));
    switch (config.rope_scaling.type) {
      case RopeScalingType::kNone: break;
      case RopeScalingType::kLinear: f = static_cast<float>(f / config.rope_scaling.factor); break;
      case RopeScalingType::kLlama3: f = Llama3Scale(f, config.rope_scaling); break;
    }
    inv_freq[static_cast<size_t>(i)] = f;
  }
  return inv_freq;
}

std::vector<float> RopeCosSinTable(const ModelConfig& config, int64_t num_positions) {
  const std::vector<float> inv_freq = RopeInverseFrequencies(config);
  const size_t half = inv_freq.size();
  std::vector<float> table(static_cast<size_t>(num_positions) * 2 * half);
  for (int64_t p = 0; p < num_positions; ++p) {
    float* row = table.data() + static_cast<size_t>(p) * 2 * half;
    for (size_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * inv_freq[i];  // float32 product, as torch does
      row[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      row[half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
  return table;
}

}  // namespace tspserve
