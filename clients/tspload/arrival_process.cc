#include "clients/tspload/arrival_process.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "engine/common/check.h"

namespace tspserve::tspload {

GammaSampler::GammaSampler(double shape, double scale, uint64_t seed)
    : shape_(shape), scale_(scale), engine_(seed) {
  CHECK_GT(shape, 0.0);
  CHECK_GT(scale, 0.0);
}

double GammaSampler::Uniform() {
  // 53 random bits, shifted off zero so logs stay finite.
  return (static_cast<double>(engine_() >> 11) + 0.5) * 0x1.0p-53;
}

double GammaSampler::Normal() {
  const double u1 = Uniform();
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

double GammaSampler::MarsagliaTsang(double shape) {
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    const double x = Normal();
    const double v_root = 1.0 + c * x;
    if (v_root <= 0.0) continue;
    const double v = v_root * v_root * v_root;
    const double u = Uniform();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

double GammaSampler::Next() {
  if (shape_ >= 1.0) return scale_ * MarsagliaTsang(shape_);
  // gamma(k) = gamma(k + 1) * U^(1/k) for k < 1.
  const double boosted = MarsagliaTsang(shape_ + 1.0);
  return scale_ * boosted * std::pow(Uniform(), 1.0 / shape_);
}

std::vector<double> ArrivalOffsets(const LoadShape& shape, int num_requests, uint64_t seed) {
  std::vector<double> offsets(static_cast<size_t>(std::max(num_requests, 0)), 0.0);
  if (std::isinf(shape.request_rate) || offsets.empty()) return offsets;
  GammaSampler gaps(shape.burstiness, 1.0 / (shape.request_rate * shape.burstiness), seed);
  for (size_t i = 1; i < offsets.size(); ++i) offsets[i] = offsets[i - 1] + gaps.Next();
  return offsets;
}

}  // namespace tspserve::tspload
