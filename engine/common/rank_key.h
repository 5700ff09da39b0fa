// The rank key of a token: one unsigned 64-bit number per (logit, id) whose descending order is
// "more likely first" (larger logit first, lower id first among equal logits), the order of
// Sampler's truncations. A threshold on it cuts a row's sorted vocabulary at any token, ties
// included, so a top-p or min-p set is "every key >= the key of the last token kept".
//   key = OrderedBits(logit) << 32 | (0xFFFFFFFF - id)
// OrderedBits maps floats to uint32 monotonically (-0 as +0, so equal logits get equal bits).
// Backend::KeyHistogram and Backend::MaskLogits (engine/backend/backend.h) state the same
// formula; kernels/ cannot include engine/, so kernels/nucleus.cu follows that contract.
#pragma once

#include <bit>
#include <cstdint>

namespace tspserve {

inline uint32_t OrderedBits(float logit) {
  const uint32_t bits = logit == 0.0f ? 0u : std::bit_cast<uint32_t>(logit);
  return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
}

inline float FromOrderedBits(uint32_t ordered) {
  return std::bit_cast<float>((ordered & 0x80000000u) != 0 ? ordered & 0x7FFFFFFFu : ~ordered);
}

inline uint64_t RankKey(float logit, int64_t id) {
  return static_cast<uint64_t>(OrderedBits(logit)) << 32 | (0xFFFFFFFFu - static_cast<uint32_t>(id));
}

}  // namespace tspserve
