#include "clients/tspload/arrival_process.h"

#include <cmath>
#include <numeric>

#include <gtest/gtest.h>

namespace tspserve::tspload {
namespace {

LoadShape Open(double rate, double burstiness) {
  LoadShape shape;
  shape.request_rate = rate;
  shape.burstiness = burstiness;
  return shape;
}

// Mean and coefficient of variation of the gaps between offsets.
std::pair<double, double> GapStats(const std::vector<double>& offsets) {
  std::vector<double> gaps;
  for (size_t i = 1; i < offsets.size(); ++i) gaps.push_back(offsets[i] - offsets[i - 1]);
  const double mean = std::accumulate(gaps.begin(), gaps.end(), 0.0) / static_cast<double>(gaps.size());
  double squares = 0;
  for (double g : gaps) squares += (g - mean) * (g - mean);
  return {mean, std::sqrt(squares / static_cast<double>(gaps.size())) / mean};
}

TEST(ArrivalOffsetsTest, StartAtZeroAndNeverGoBack) {
  const std::vector<double> offsets = ArrivalOffsets(Open(7.3, 0.3), 997, 5);
  ASSERT_EQ(offsets.size(), 997u);
  EXPECT_EQ(offsets[0], 0);
  for (size_t i = 1; i < offsets.size(); ++i) ASSERT_GE(offsets[i], offsets[i - 1]) << i;
}

// Gamma(k, 1/(rate k)) gaps: mean 1/rate whatever k, coefficient of variation 1/sqrt(k).
class GammaRateTest : public testing::TestWithParam<double> {};

TEST_P(GammaRateTest, MeanRateAndDispersionMatchTheShape) {
  const double burstiness = GetParam();
  const auto [mean, cv] = GapStats(ArrivalOffsets(Open(20, burstiness), 40001, 11));
  EXPECT_NEAR(mean, 1.0 / 20, 0.03 / 20) << "burstiness " << burstiness;
  EXPECT_NEAR(cv, 1.0 / std::sqrt(burstiness), 0.06 / std::sqrt(burstiness)) << "burstiness " << burstiness;
}

INSTANTIATE_TEST_SUITE_P(Shapes, GammaRateTest, testing::Values(0.25, 0.5, 1.0, 3.0, 10.0));

TEST(ArrivalOffsetsTest, SeededAndDeterministic) {
  EXPECT_EQ(ArrivalOffsets(Open(5, 1), 50, 42), ArrivalOffsets(Open(5, 1), 50, 42));
  EXPECT_NE(ArrivalOffsets(Open(5, 1), 50, 42), ArrivalOffsets(Open(5, 1), 50, 43));
  // A prefix of a longer schedule is the shorter schedule.
  const std::vector<double> longer = ArrivalOffsets(Open(5, 1), 80, 42);
  EXPECT_EQ(std::vector<double>(longer.begin(), longer.begin() + 50), ArrivalOffsets(Open(5, 1), 50, 42));
}

TEST(ArrivalOffsetsTest, InfiniteRateSendsEverythingAtOnce) {
  LoadShape closed;
  closed.max_concurrency = 4;
  EXPECT_EQ(ArrivalOffsets(closed, 6, 1), std::vector<double>(6, 0.0));
}

TEST(ArrivalOffsetsTest, EmptyAndSingle) {
  EXPECT_TRUE(ArrivalOffsets(Open(10, 1), 0, 1).empty());
  EXPECT_EQ(ArrivalOffsets(Open(10, 1), 1, 1), std::vector<double>{0.0});
}

TEST(GammaSamplerTest, PositiveSamplesWithTheScaledMean) {
  GammaSampler sampler(0.7, 2.5, 99);
  double sum = 0;
  constexpr int kSamples = 50000;
  for (int i = 0; i < kSamples; ++i) {
    const double x = sampler.Next();
    ASSERT_GT(x, 0);
    sum += x;
  }
  EXPECT_NEAR(sum / kSamples, 0.7 * 2.5, 0.03 * 0.7 * 2.5);
}

}  // namespace
}  // namespace tspserve::tspload
