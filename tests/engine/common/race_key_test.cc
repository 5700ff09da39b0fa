#include "engine/common/race_key.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace tspserve {
namespace {

// Reference values computed independently (a Python port of the formula in Backend::SampleRows),
// pinned so that a change that would alter every seeded request's tokens is noticed.
TEST(RaceKeyTest, MatchesTheReferenceFormula) {
  EXPECT_DOUBLE_EQ(RaceUniform(0, 0, 0), 0.8141121850571429);
  EXPECT_DOUBLE_EQ(RaceUniform(42, 7, 128000), 0.11685096599887973);
  EXPECT_DOUBLE_EQ(RaceUniform(0xFFFFFFFFFFFFFFFFull, 3, 5), 0.7501550062029083);
  EXPECT_NEAR(RaceKey(2.0f, 1.0f, 0, 0, 0), 2.0 + 1.5815450456592361, 1e-15);
  EXPECT_NEAR(RaceKey(-3.0f, 0.5f, 42, 7, 128000), -6.0 - 0.7640044235074861, 1e-14);
}

TEST(RaceKeyTest, TemperatureZeroIsTheLogitAndMaskedTokensNeverWin) {
  EXPECT_EQ(RaceKey(1.25f, 0.0f, 9, 9, 9), 1.25);
  const float neg_inf = -INFINITY;
  EXPECT_EQ(RaceKey(neg_inf, 0.7f, 1, 2, 3), -INFINITY);
  EXPECT_EQ(RaceKey(neg_inf, 0.0f, 1, 2, 3), -INFINITY);
}

TEST(RaceKeyTest, UniformIsInsideTheUnitIntervalAndFlat) {
  int buckets[10] = {};
  constexpr int kDraws = 100000;
  for (int i = 0; i < kDraws; ++i) {
    const double u = RaceUniform(7, static_cast<uint64_t>(i / 100), i % 100);
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
    ++buckets[static_cast<int>(u * 10)];
  }
  for (int count : buckets) EXPECT_NEAR(count, kDraws / 10, 500);
}

// The race's winner over steps is distributed as softmax(logits / T): chi-square over 20000 steps.
TEST(RaceKeyTest, TheRaceSamplesTheSoftmax) {
  const std::vector<float> logits = {1.0f, 0.0f, -0.5f, 2.0f, -4.0f};
  for (float t : {1.0f, 0.5f, 2.0f}) {
    std::vector<double> p(logits.size());
    double z = 0;
    for (size_t i = 0; i < p.size(); ++i) z += p[i] = std::exp(logits[i] / t);
    constexpr int kSteps = 20000;
    std::vector<int> counts(logits.size(), 0);
    for (uint64_t step = 0; step < kSteps; ++step) {
      size_t best = 0;
      for (size_t i = 1; i < logits.size(); ++i) {
        if (RaceKey(logits[i], t, 99, step, static_cast<int64_t>(i)) > RaceKey(logits[best], t, 99, step, static_cast<int64_t>(best))) best = i;
      }
      ++counts[best];
    }
    double chi_square = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      const double expected = p[i] / z * kSteps;
      chi_square += (counts[i] - expected) * (counts[i] - expected) / expected;
    }
    EXPECT_LT(chi_square, 23.5) << "temperature " << t;  // df 4: p < 1e-4
  }
}

TEST(RaceKeyTest, TheLeaderIsTheLargestKeyAndTheLowestIdAmongEqualOnes) {
  RaceLeader greedy(0.0f, 1, 2);
  for (int64_t id : {7, 3, 9, 5}) greedy.Enter(id == 9 ? 1.0f : 2.0f, id);  // 7, 3 and 5 tie
  EXPECT_EQ(greedy.id(), 3);
  EXPECT_EQ(greedy.logit(), 2.0f);
  RaceLeader empty(1.0f, 1, 2);
  EXPECT_EQ(empty.id(), -1);
  // Entering order does not change the winner of a sampled race.
  RaceLeader forward(0.8f, 5, 6), backward(0.8f, 5, 6);
  for (int64_t id = 0; id < 50; ++id) forward.Enter(static_cast<float>(id % 7) * 0.1f, id);
  for (int64_t id = 49; id >= 0; --id) backward.Enter(static_cast<float>(id % 7) * 0.1f, id);
  EXPECT_EQ(forward.id(), backward.id());
}

}  // namespace
}  // namespace tspserve
