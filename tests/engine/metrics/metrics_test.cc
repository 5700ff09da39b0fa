#include "engine/metrics/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "engine/metrics/text_format.h"
#include "engine/metrics/text_validator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tspserve::metrics {
namespace {

using ::testing::HasSubstr;

TEST(TextFormatTest, MetricNames) {
  EXPECT_TRUE(IsValidMetricName("tspserve:prompt_tokens_total"));
  EXPECT_TRUE(IsValidMetricName("_x"));
  EXPECT_TRUE(IsValidMetricName(":a9"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("9a"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName("a b"));
  EXPECT_FALSE(IsValidMetricName("a\xc3\xa9"));
}

TEST(TextFormatTest, LabelNames) {
  EXPECT_TRUE(IsValidLabelName("finished_reason"));
  EXPECT_TRUE(IsValidLabelName("_a1"));
  EXPECT_FALSE(IsValidLabelName(""));
  EXPECT_FALSE(IsValidLabelName("__name__"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("1a"));
}

TEST(TextFormatTest, Escaping) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(EscapeHelp("a\\b\"c\nd"), "a\\\\b\"c\\nd");
  EXPECT_EQ(EscapeLabelValue(""), "");
  EXPECT_EQ(EscapeLabelValue("\xc3\xa9\t"), "\xc3\xa9\t");  // other bytes pass through
}

TEST(TextFormatTest, Values) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(-1.5), "-1.5");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(123456789), "123456789");
  EXPECT_EQ(FormatValue(1.5e20), "1.5e+20");
  EXPECT_EQ(FormatValue(1e-9), "1e-09");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(std::stod(FormatValue(0.1 + 0.2)), 0.1 + 0.2);  // round-trips exactly
}

TEST(RegistryTest, EmptyRegistryRendersNothing) {
  Registry registry;
  EXPECT_EQ(registry.RenderPrometheusText(), "");
}

TEST(RegistryTest, GoldenTextWithEscapingAndCumulativeBuckets) {
  Registry registry;
  Counter* counter = *registry.AddCounter("tspserve:requests_total",
                                          "Requests.\nSecond \\ line \"quoted\"", {"code"});
  Gauge* gauge = *registry.AddGauge("temperature", "A gauge.");
  Histogram* histogram = *registry.AddHistogram("latency_seconds", "Latency.", {0.125, 0.5, 2.5});
  counter->Increment({"a\"b\\c\nd"}, 2);
  counter->Increment({"200"});
  gauge->Set(-1.5);
  histogram->Observe(0.125);  // on a bound: counted in that bucket (le is inclusive)
  histogram->Observe(0.25);
  histogram->Observe(3.0);
  histogram->Observe(0.0625);
  const std::string expected =
      "# HELP tspserve:requests_total Requests.\\nSecond \\\\ line \"quoted\"\n"
      "# TYPE tspserve:requests_total counter\n"
      "tspserve:requests_total{code=\"200\"} 1\n"
      "tspserve:requests_total{code=\"a\\\"b\\\\c\\nd\"} 2\n"
      "# HELP temperature A gauge.\n"
      "# TYPE temperature gauge\n"
      "temperature -1.5\n"
      "# HELP latency_seconds Latency.\n"
      "# TYPE latency_seconds histogram\n"
      "latency_seconds_bucket{le=\"0.125\"} 2\n"
      "latency_seconds_bucket{le=\"0.5\"} 3\n"
      "latency_seconds_bucket{le=\"2.5\"} 3\n"
      "latency_seconds_bucket{le=\"+Inf\"} 4\n"
      "latency_seconds_sum 3.4375\n"
      "latency_seconds_count 4\n";
  const std::string text = registry.RenderPrometheusText();
  EXPECT_EQ(text, expected);
  EXPECT_TRUE(ValidatePrometheusText(text).ok()) << ValidatePrometheusText(text);
}

TEST(RegistryTest, LabelledHistogramPutsLeLast) {
  Registry registry;
  Histogram* histogram = *registry.AddHistogram("h", "H.", {1.0}, {"rank", "kind"});
  histogram->Observe({"1", "x"}, 5.0);
  histogram->Observe({"0", "y"}, 0.5);
  const std::string expected =
      "# HELP h H.\n"
      "# TYPE h histogram\n"
      "h_bucket{rank=\"0\",kind=\"y\",le=\"1\"} 1\n"
      "h_bucket{rank=\"0\",kind=\"y\",le=\"+Inf\"} 1\n"
      "h_sum{rank=\"0\",kind=\"y\"} 0.5\n"
      "h_count{rank=\"0\",kind=\"y\"} 1\n"
      "h_bucket{rank=\"1\",kind=\"x\",le=\"1\"} 0\n"
      "h_bucket{rank=\"1\",kind=\"x\",le=\"+Inf\"} 1\n"
      "h_sum{rank=\"1\",kind=\"x\"} 5\n"
      "h_count{rank=\"1\",kind=\"x\"} 1\n";
  EXPECT_EQ(registry.RenderPrometheusText(), expected);
}

TEST(RegistryTest, UnlabelledSeriesRenderZeroAndLabelledFamiliesStartEmpty) {
  Registry registry;
  ASSERT_TRUE(registry.AddCounter("a_total", "").ok());
  ASSERT_TRUE(registry.AddGauge("b", "B.", {"rank"}).ok());
  ASSERT_TRUE(registry.AddHistogram("c", "C.", {}).ok());  // only the +Inf bucket
  const std::string expected =
      "# HELP a_total \n"
      "# TYPE a_total counter\n"
      "a_total 0\n"
      "# HELP b B.\n"
      "# TYPE b gauge\n"
      "# HELP c C.\n"
      "# TYPE c histogram\n"
      "c_bucket{le=\"+Inf\"} 0\n"
      "c_sum 0\n"
      "c_count 0\n";
  const std::string text = registry.RenderPrometheusText();
  EXPECT_EQ(text, expected);
  EXPECT_TRUE(ValidatePrometheusText(text).ok()) << ValidatePrometheusText(text);
}

TEST(RegistryTest, EmptyLabelValueIsItsOwnSeries) {
  Registry registry;
  Counter* counter = *registry.AddCounter("x_total", "X.", {"k"});
  counter->Increment({""}, 3);
  EXPECT_EQ(counter->Value({""}), 3);
  EXPECT_EQ(counter->Value({"other"}), 0);
  EXPECT_THAT(registry.RenderPrometheusText(), HasSubstr("x_total{k=\"\"} 3\n"));
}

TEST(RegistryTest, GaugeSetAndAdd) {
  Registry registry;
  Gauge* gauge = *registry.AddGauge("g", "G.", {"rank"});
  gauge->Set({"0"}, 2.5);
  gauge->Add({"0"}, -4);
  gauge->Add({"1"}, 1);
  EXPECT_EQ(gauge->Value({"0"}), -1.5);
  EXPECT_EQ(gauge->Value({"1"}), 1);
  EXPECT_EQ(gauge->Value({"2"}), 0);
}

TEST(RegistryTest, HistogramBucketEdges) {
  Registry registry;
  Histogram* histogram = *registry.AddHistogram("h", "H.", {-1.0, 0.0, 1.0});
  for (double v : {-2.0, -1.0, -0.5, 0.0, 1.0, 1.0000001, std::nan("")}) histogram->Observe(v);
  const HistogramSnapshot snapshot = histogram->Snapshot();
  EXPECT_THAT(snapshot.cumulative_counts, ::testing::ElementsAre(2, 4, 5, 7));
  EXPECT_EQ(snapshot.count, 7u);
  EXPECT_TRUE(std::isnan(snapshot.sum));  // NaN lands in +Inf and poisons the sum
}

TEST(RegistryTest, HistogramSnapshotOfUnusedSeriesHasEveryBucket) {
  Registry registry;
  Histogram* histogram = *registry.AddHistogram("h", "H.", {1, 2, 3}, {"k"});
  const HistogramSnapshot snapshot = histogram->Snapshot({"never"});
  EXPECT_THAT(snapshot.cumulative_counts, ::testing::ElementsAre(0, 0, 0, 0));
  EXPECT_EQ(snapshot.count, 0u);
}

TEST(RegistryTest, RejectsBadRegistrations) {
  Registry registry;
  ASSERT_TRUE(registry.AddHistogram("lat", "L.", {1.0}).ok());
  ASSERT_TRUE(registry.AddGauge("g_bucket", "G.").ok());
  struct Case {
    absl::Status status;
    absl::StatusCode code;
    const char* message;
  };
  const double inf = std::numeric_limits<double>::infinity();
  const Case cases[] = {
      {registry.AddGauge("", "").status(), absl::StatusCode::kInvalidArgument,
       "invalid metric name"},
      {registry.AddGauge("9x", "").status(), absl::StatusCode::kInvalidArgument, "\"9x\""},
      {registry.AddGauge("a-b", "").status(), absl::StatusCode::kInvalidArgument, "\"a-b\""},
      {registry.AddCounter("requests", "").status(), absl::StatusCode::kInvalidArgument, "_total"},
      {registry.AddGauge("x", "", {"__r"}).status(), absl::StatusCode::kInvalidArgument, "\"__r\""},
      {registry.AddGauge("x", "", {"a", "a"}).status(), absl::StatusCode::kInvalidArgument,
       "duplicate label"},
      {registry.AddHistogram("x", "", {1}, {"le"}).status(), absl::StatusCode::kInvalidArgument,
       "reserved"},
      {registry.AddHistogram("x", "", {1, 1}).status(), absl::StatusCode::kInvalidArgument,
       "increase strictly"},
      {registry.AddHistogram("x", "", {2, 1}).status(), absl::StatusCode::kInvalidArgument,
       "increase strictly"},
      {registry.AddHistogram("x", "", {1, inf}).status(), absl::StatusCode::kInvalidArgument,
       "not finite"},
      {registry.AddHistogram("x", "", {std::nan("")}).status(), absl::StatusCode::kInvalidArgument,
       "not finite"},
      {registry.AddHistogram("lat", "", {1}).status(), absl::StatusCode::kAlreadyExists, "lat"},
      {registry.AddGauge("lat_sum", "").status(), absl::StatusCode::kAlreadyExists, "lat_sum"},
      {registry.AddHistogram("g", "", {1}).status(), absl::StatusCode::kAlreadyExists, "g_bucket"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), c.code) << c.status;
    EXPECT_THAT(std::string(c.status.message()), HasSubstr(c.message));
  }
  // Nothing failed half-way: "x" is still free.
  EXPECT_TRUE(registry.AddGauge("x", "").ok());
}

TEST(RegistryDeathTest, WrongLabelArityIsABug) {
  Registry registry;
  Counter* counter = *registry.AddCounter("c_total", "C.", {"a"});
  Gauge* gauge = *registry.AddGauge("g", "G.");
  EXPECT_DEATH(counter->Increment({"x", "y"}), "wrong number of label values");
  EXPECT_DEATH(counter->Increment(), "has labels");
  EXPECT_DEATH(gauge->Set({"x"}, 1), "wrong number of label values");
}

TEST(RegistryDeathTest, CountersNeverGoDown) {
  Registry registry;
  Counter* counter = *registry.AddCounter("c_total", "C.");
  EXPECT_DEATH(counter->Increment(-1), "must be >= 0");
  EXPECT_DEATH(counter->Increment(std::nan("")), "must be >= 0");
}

// Several writers on shared and per-thread series, one scraper, and late registrations: every
// scrape is valid text and the totals come out exact (all increments are exact in double).
TEST(RegistryTest, ConcurrentUpdatesAreExact) {
  constexpr int kThreads = 6;
  constexpr int kIterations = 20000;
  Registry registry;
  Counter* counter = *registry.AddCounter("c_total", "C.");
  Counter* by_thread = *registry.AddCounter("t_total", "T.", {"thread"});
  Gauge* gauge = *registry.AddGauge("g", "G.");
  Histogram* histogram = *registry.AddHistogram("h", "H.", {0.25, 1.0});
  std::atomic<bool> writers_done = false;
  std::thread scraper([&] {
    while (!writers_done) {
      const absl::Status status = ValidatePrometheusText(registry.RenderPrometheusText());
      ASSERT_TRUE(status.ok()) << status;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      CounterSeries& mine = by_thread->WithLabels({std::to_string(t)});
      for (int i = 0; i < kIterations; ++i) {
        counter->Increment();
        mine.Increment(0.5);
        gauge->Add(i % 2 == 0 ? 3 : -1);
        histogram->Observe((i % 4) * 0.5);  // 0, 0.5, 1, 1.5
      }
      ASSERT_TRUE(registry.AddGauge("late_" + std::to_string(t), "L.").ok());
    });
  }
  for (std::thread& writer : writers) writer.join();
  writers_done = true;
  scraper.join();
  EXPECT_EQ(counter->Value(), kThreads * kIterations);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(by_thread->Value({std::to_string(t)}), kIterations / 2);
  }
  EXPECT_EQ(gauge->Value(), kThreads * kIterations);  // +3 -1 per pair of iterations
  const HistogramSnapshot snapshot = histogram->Snapshot();
  EXPECT_EQ(snapshot.count, static_cast<uint64_t>(kThreads * kIterations));
  EXPECT_THAT(snapshot.cumulative_counts,
              ::testing::ElementsAre(kThreads * kIterations / 4, kThreads * kIterations * 3 / 4,
                                     kThreads * kIterations));
  EXPECT_EQ(snapshot.sum, kThreads * kIterations / 4 * 3.0);
  EXPECT_THAT(registry.RenderPrometheusText(), HasSubstr("# TYPE late_5 gauge\n"));
}

}  // namespace
}  // namespace tspserve::metrics
