#include "engine/sampling/truncation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace tspserve {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Every id sorted "more likely first" with a full sort: the obviously correct reference.
std::vector<int32_t> FullOrder(const std::vector<float>& values) {
  std::vector<int32_t> ids(values.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return values[static_cast<size_t>(a)] > values[static_cast<size_t>(b)];
  });
  return ids;
}

// Logits with many exact ties (quantized) and some -inf.
std::vector<float> RandomLogits(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> logits(size);
  for (float& logit : logits) {
    const int32_t level = static_cast<int32_t>(rng() % 40);
    logit = level == 0 ? -INFINITY : static_cast<float>(level) * 0.25f - 5.0f;
  }
  logits[0] = 1.0f;  // at least one finite value
  return logits;
}

TEST(TopIndicesTest, MatchesAFullSortIncludingTies) {
  for (size_t size : {1u, 2u, 7u, 64u, 65u, 1000u}) {
    const std::vector<float> logits = RandomLogits(size, static_cast<uint32_t>(size));
    const std::vector<int32_t> order = FullOrder(logits);
    for (int32_t k : {1, 2, 5, 63, 64, 500, 5000}) {
      const size_t expected = std::min(static_cast<size_t>(k), size);
      EXPECT_EQ(
          TopIndices(logits, k),
          std::vector<int32_t>(order.begin(), order.begin() + static_cast<ptrdiff_t>(expected)))
          << "size " << size << " k " << k;
    }
  }
}

TEST(TopIndicesTest, EdgeCases) {
  const std::vector<float> logits = {1.0f, 1.0f, 1.0f};
  EXPECT_THAT(TopIndices(logits, 2), ElementsAre(0, 1));
  EXPECT_THAT(TopIndices(logits, 0), IsEmpty());
  EXPECT_THAT(TopIndices({}, 3), IsEmpty());
}

TEST(TopPCountTest, KeepsTokensWhileTheMassBeforeIsBelowTopP) {
  const std::vector<double> w = {0.5, 0.25, 0.15, 0.1};
  EXPECT_EQ(TopPCount(w, 1.0, 0.1f), 1);
  EXPECT_EQ(TopPCount(w, 1.0, 0.7f), 2);
  EXPECT_EQ(TopPCount(w, 1.0, 0.8f), 3);
  EXPECT_EQ(TopPCount(w, 1.0, 0.95f), 4);
  EXPECT_EQ(TopPCount(w, 1.0, 1.0f), 4);
  EXPECT_EQ(TopPCount(w, 2.0, 0.4f), 3);  // ids are a prefix: the rest of the mass is elsewhere
}

// Reference top-p over the whole vocabulary with a full sort.
std::vector<int32_t> ReferenceTopP(const std::vector<float>& logits, float t, float top_p) {
  const std::vector<int32_t> order = FullOrder(logits);
  const std::vector<double> w =
      SoftmaxWeights(logits, order, t, logits[static_cast<size_t>(order[0])]);
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  const int32_t keep = TopPCount(w, total, top_p);
  return {order.begin(), order.begin() + keep};
}

TEST(TopPIndicesTest, MatchesAFullSortForManySizes) {
  for (size_t size : {1u, 3u, 64u, 65u, 257u, 5000u}) {
    for (float t : {0.3f, 1.0f, 4.0f}) {
      for (float top_p : {0.05f, 0.5f, 0.9f, 0.999f}) {
        const std::vector<float> logits = RandomLogits(size, static_cast<uint32_t>(size * 7));
        const std::vector<int32_t> got = TopPIndices(logits, t, top_p);
        const std::vector<int32_t> want = ReferenceTopP(logits, t, top_p);
        // Mass is summed in another order by the reference; allow a one-token disagreement only
        // at the boundary, where the masses are equal to rounding.
        ASSERT_FALSE(got.empty());
        const size_t common = std::min(got.size(), want.size());
        EXPECT_TRUE(
            std::equal(got.begin(), got.begin() + static_cast<ptrdiff_t>(common), want.begin()));
        EXPECT_LE(std::max(got.size(), want.size()) - common, 1u)
            << "size " << size << " t " << t << " top_p " << top_p;
      }
    }
  }
}

TEST(SoftmaxWeightsTest, TemperatureAndMaskedTokens) {
  const std::vector<float> logits = {0.0f, -1.0f, -INFINITY};
  const std::vector<int32_t> ids = {0, 1, 2};
  EXPECT_THAT(SoftmaxWeights(logits, ids, 2.0f, 0.0f), ElementsAre(1.0, std::exp(-0.5), 0.0));
  // A denormal temperature still gives a one-hot weight, not NaN.
  EXPECT_THAT(SoftmaxWeights(logits, ids, 1e-45f, 0.0f), ElementsAre(1.0, 0.0, 0.0));
}

TEST(ApplyMinPTest, KeepsTokensAtLeastMinPTimesTheBest) {
  std::vector<int32_t> ids = {4, 2, 9, 1};
  std::vector<double> weights = {0.2, 1.0, 0.1, 0.5};
  ApplyMinP(0.15f, ids, weights);
  EXPECT_THAT(ids, ElementsAre(4, 2, 1));
  EXPECT_THAT(weights, ElementsAre(0.2, 1.0, 0.5));
  ApplyMinP(0.5f, ids, weights);  // exactly at the threshold: kept
  EXPECT_THAT(ids, ElementsAre(2, 1));
  ApplyMinP(1.0f, ids, weights);
  EXPECT_THAT(ids, ElementsAre(2));
}

}  // namespace
}  // namespace tspserve
