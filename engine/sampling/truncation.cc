#include "engine/sampling/truncation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/common/check.h"

namespace tspserve {
namespace {

// "More likely first" over ids of `values`.
struct MoreLikely {
  std::span<const float> values;
  bool operator()(int32_t a, int32_t b) const {
    const float va = values[static_cast<size_t>(a)];
    const float vb = values[static_cast<size_t>(b)];
    return va > vb || (va == vb && a < b);
  }
};

}  // namespace

std::vector<int32_t> TopIndices(std::span<const float> values, int32_t k) {
  const size_t keep = std::min(static_cast<size_t>(std::max(k, 0)), values.size());
  if (keep == 0) return {};
  const MoreLikely better{values};
  // A heap whose front is the least likely id kept so far.
  std::vector<int32_t> heap;
  heap.reserve(keep);
  for (size_t i = 0; i < values.size(); ++i) {
    const int32_t id = static_cast<int32_t>(i);
    if (heap.size() < keep) {
      heap.push_back(id);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(id, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = id;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), better);
  return heap;
}

std::vector<double> SoftmaxWeights(std::span<const float> logits, std::span<const int32_t> ids,
                                   float temperature, float max_logit) {
  std::vector<double> weights(ids.size());
  // Divides rather than multiplying by 1/t, which overflows for denormal temperatures.
  const double t = temperature;
  for (size_t i = 0; i < ids.size(); ++i) {
    const double shifted = static_cast<double>(logits[static_cast<size_t>(ids[i])]) - max_logit;
    weights[i] = std::exp(shifted / t);
  }
  return weights;
}

int32_t TopPCount(std::span<const double> sorted_weights, double total, float top_p) {
  const double target = static_cast<double>(top_p) * total;
  double before = 0.0;
  for (size_t i = 0; i < sorted_weights.size(); ++i) {
    if (i > 0 && before >= target) return static_cast<int32_t>(i);
    before += sorted_weights[i];
  }
  return static_cast<int32_t>(sorted_weights.size());
}

std::vector<int32_t> TopPIndices(std::span<const float> logits, float temperature, float top_p) {
  CHECK(!logits.empty());
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  const std::vector<double> all = SoftmaxWeights(logits, ids, temperature, max_logit);
  const double target = static_cast<double>(top_p) * std::accumulate(all.begin(), all.end(), 0.0);
  const MoreLikely better{logits};
  double mass = 0.0;
  size_t sorted = 0;
  for (size_t want = std::min<size_t>(64, ids.size());; want = std::min(ids.size(), want * 4)) {
    // [0, sorted) is final; bring the next most likely ids into [sorted, want), in order.
    std::nth_element(ids.begin() + static_cast<ptrdiff_t>(sorted),
                     ids.begin() + static_cast<ptrdiff_t>(want) - 1, ids.end(), better);
    std::sort(ids.begin() + static_cast<ptrdiff_t>(sorted),
              ids.begin() + static_cast<ptrdiff_t>(want), better);
    for (; sorted < want; ++sorted) {
      if (sorted > 0 && mass >= target) {
        ids.resize(sorted);
        return ids;
      }
      mass += all[static_cast<size_t>(ids[sorted])];
    }
    if (sorted == ids.size()) return ids;
  }
}

void ApplyMinP(float min_p, std::vector<int32_t>& ids, std::vector<double>& weights) {
  if (ids.empty()) return;
  const double threshold = min_p * *std::max_element(weights.begin(), weights.end());
  size_t kept = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (weights[i] < threshold) continue;
    ids[kept] = ids[i];
    weights[kept] = weights[i];
    ++kept;
  }
  ids.resize(kept);
  weights.resize(kept);
}

}  // namespace tspserve
