#include "clients/tspload/metrics.h"

#include <cmath>

#include <gtest/gtest.h>

namespace tspserve::tspload {
namespace {

RequestRecord Ok(int input_len, int output_len, double ttft, std::vector<double> itls) {
  RequestRecord r;
  r.success = true;
  r.input_len = input_len;
  r.output_len = output_len;
  r.ttft_s = ttft;
  r.e2el_s = ttft;
  for (double gap : itls) r.e2el_s += gap;
  r.itls_s = std::move(itls);
  return r;
}

RequestRecord Failed(const std::string& code, int input_len) {
  RequestRecord r;
  r.error = code;
  r.input_len = input_len;
  r.output_len = 4;  // whatever streamed before the failure does not count
  return r;
}

// Three completed requests with hand-computed metrics and three failures.
std::vector<RequestRecord> Timeline() {
  return {Ok(10, 5, 0.1, {0.05, 0.05, 0.1, 0.2}),  // e2el 0.5, tpot 0.1
          Ok(20, 1, 0.3, {}),                      // e2el 0.3, no tpot
          Ok(30, 3, 0.2, {0.1, 0.3}),              // e2el 0.6, tpot 0.2
          Failed("UNAVAILABLE", 100), Failed("UNAVAILABLE", 100), Failed("RESOURCE_EXHAUSTED", 100)};
}

TEST(PercentileTest, MatchesNumpyLinearInterpolation) {
  EXPECT_DOUBLE_EQ(Percentile({1, 2, 3, 4}, 25), 1.75);        // np.percentile([1,2,3,4], 25)
  EXPECT_DOUBLE_EQ(Percentile({50, 15, 40, 35, 20}, 40), 29);  // unsorted input
  EXPECT_DOUBLE_EQ(Percentile({3, 1, 2}, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile({3, 1, 2}, 100), 3);
  EXPECT_DOUBLE_EQ(Percentile({3, 1, 2}, 50), 2);
  EXPECT_NEAR(Percentile({0.1, 0.2, 0.3}, 90), 0.28, 1e-12);
  EXPECT_NEAR(Percentile({1, 2}, 99.9), 1.999, 1e-12);
  EXPECT_DOUBLE_EQ(Percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(Percentile({}, 99), 0);
}

TEST(TpotTest, ExcludesTheFirstToken) {
  RequestRecord r = Ok(1, 5, 0.1, {0.05, 0.05, 0.1, 0.2});
  EXPECT_NEAR(TimePerOutputToken(r), (0.5 - 0.1) / 4, 1e-12);
  r.output_len = 1;
  EXPECT_EQ(TimePerOutputToken(r), 0);
  r.output_len = 0;
  EXPECT_EQ(TimePerOutputToken(r), 0);
}

TEST(ComputeMetricsTest, CountsAndThroughputs) {
  const BenchmarkMetrics m = ComputeMetrics(Timeline(), 2.0, {50, 90, 99}, GoodputSlos());
  EXPECT_EQ(m.completed, 3);
  EXPECT_EQ(m.failed, 3);
  EXPECT_EQ(m.total_input, 60);  // failed requests' inputs are not counted
  EXPECT_EQ(m.total_output, 9);
  EXPECT_DOUBLE_EQ(m.duration_s, 2.0);
  EXPECT_DOUBLE_EQ(m.request_throughput, 1.5);
  EXPECT_DOUBLE_EQ(m.output_throughput, 4.5);
  EXPECT_DOUBLE_EQ(m.total_token_throughput, 34.5);
  EXPECT_FALSE(m.request_goodput.has_value());
  EXPECT_EQ(m.errors, (std::map<std::string, int>{{"RESOURCE_EXHAUSTED", 1}, {"UNAVAILABLE", 2}}));
}

TEST(ComputeMetricsTest, TtftTpotItlE2elDistributions) {
  const BenchmarkMetrics m = ComputeMetrics(Timeline(), 2.0, {50, 90, 99}, GoodputSlos());
  EXPECT_NEAR(m.ttft_ms.mean, 200, 1e-9);
  EXPECT_NEAR(m.ttft_ms.median, 200, 1e-9);
  EXPECT_NEAR(m.ttft_ms.std, std::sqrt(0.02 / 3) * 1000, 1e-9);  // population std, as np.std
  ASSERT_EQ(m.ttft_ms.percentiles.size(), 3u);
  EXPECT_EQ(m.ttft_ms.percentiles[1].first, 90);
  EXPECT_NEAR(m.ttft_ms.percentiles[1].second, 280, 1e-9);

  EXPECT_NEAR(m.tpot_ms.mean, 150, 1e-9);  // only the requests with > 1 output token
  EXPECT_NEAR(m.tpot_ms.std, 50, 1e-9);
  EXPECT_NEAR(m.tpot_ms.percentiles[2].second, 199, 1e-9);

  EXPECT_NEAR(m.itl_ms.mean, 800.0 / 6, 1e-9);  // every gap of every request
  EXPECT_NEAR(m.itl_ms.median, 100, 1e-9);
  EXPECT_NEAR(m.itl_ms.percentiles[1].second, 250, 1e-9);

  EXPECT_NEAR(m.e2el_ms.mean, 1400.0 / 3, 1e-9);
  EXPECT_NEAR(m.e2el_ms.median, 500, 1e-9);
}

TEST(ComputeMetricsTest, GoodputCountsRequestsMeetingEverySlo) {
  GoodputSlos both;
  both.ttft_ms = 250;
  both.tpot_ms = 150;
  // Only the first request meets both; the second misses TTFT, the third TPOT.
  EXPECT_DOUBLE_EQ(*ComputeMetrics(Timeline(), 2.0, {}, both).request_goodput, 0.5);
  GoodputSlos tpot;
  tpot.tpot_ms = 150;
  // A one-token request has TPOT 0 and meets any TPOT SLO.
  EXPECT_DOUBLE_EQ(*ComputeMetrics(Timeline(), 2.0, {}, tpot).request_goodput, 1.0);
  GoodputSlos e2el;
  e2el.e2el_ms = 500;  // the bound is inclusive: 0.5 s meets 500 ms
  EXPECT_DOUBLE_EQ(*ComputeMetrics(Timeline(), 2.0, {}, e2el).request_goodput, 1.0);
  GoodputSlos strict;
  strict.ttft_ms = 1;
  EXPECT_DOUBLE_EQ(*ComputeMetrics(Timeline(), 2.0, {}, strict).request_goodput, 0.0);
}

TEST(ComputeMetricsTest, AllFailedGivesZerosNotNans) {
  GoodputSlos slos;
  slos.ttft_ms = 10;
  const BenchmarkMetrics m = ComputeMetrics({Failed("DEADLINE_EXCEEDED", 8)}, 1.0, {99}, slos);
  EXPECT_EQ(m.completed, 0);
  EXPECT_EQ(m.failed, 1);
  EXPECT_EQ(m.total_output, 0);
  EXPECT_EQ(m.ttft_ms.mean, 0);
  EXPECT_EQ(m.ttft_ms.std, 0);
  EXPECT_EQ(m.itl_ms.percentiles[0].second, 0);
  EXPECT_EQ(m.request_throughput, 0);
  EXPECT_EQ(*m.request_goodput, 0);
}

TEST(ComputeMetricsTest, ZeroDurationLeavesThroughputsAtZero) {
  const BenchmarkMetrics m = ComputeMetrics(Timeline(), 0.0, {}, GoodputSlos());
  EXPECT_EQ(m.request_throughput, 0);
  EXPECT_FALSE(std::isnan(m.output_throughput));
}

}  // namespace
}  // namespace tspserve::tspload
