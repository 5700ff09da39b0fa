#include "engine/metrics/server_metrics.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "engine/metrics/text_validator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tspserve::metrics {
namespace {

using ::testing::HasSubstr;

// The value of the sample line that starts with `series` (name plus labels) in `text`; fails the
// test and returns NaN when there is none.
double SampleValue(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.size() > series.size() && line.substr(0, series.size()) == series &&
        line[series.size()] == ' ') {
      return std::stod(std::string(line.substr(series.size() + 1)));
    }
  }
  ADD_FAILURE() << "no sample " << series;
  return std::nan("");
}

class ServerMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ServerMetrics>> created = ServerMetrics::Create(&registry_);
    ASSERT_TRUE(created.ok()) << created.status();
    metrics_ = std::move(*created);
  }
  std::string Text() const { return registry_.RenderPrometheusText(); }

  Registry registry_;
  std::unique_ptr<ServerMetrics> metrics_;
};

TEST_F(ServerMetricsTest, FreshRegistryIsValidAndNamesEveryFamily) {
  const std::string text = Text();
  EXPECT_TRUE(ValidatePrometheusText(text).ok()) << ValidatePrometheusText(text);
  for (const char* type_line : {
           "# TYPE tspserve:num_requests_running gauge",
           "# TYPE tspserve:num_requests_waiting gauge",
           "# TYPE tspserve:kv_cache_usage_perc gauge",
           "# TYPE tspserve:kv_cache_usage_perc_by_rank gauge",
           "# TYPE tspserve:kv_imbalance gauge",
           "# TYPE tspserve:prompt_tokens_total counter",
           "# TYPE tspserve:generation_tokens_total counter",
           "# TYPE tspserve:request_success_total counter",
           "# TYPE tspserve:num_preemptions_total counter",
           "# TYPE tspserve:collective_seconds_total counter",
           "# TYPE tspserve:collective_bytes_total counter",
           "# TYPE tspserve:time_to_first_token_seconds histogram",
           "# TYPE tspserve:inter_token_latency_seconds histogram",
           "# TYPE tspserve:e2e_request_latency_seconds histogram",
           "# TYPE tspserve:request_queue_time_seconds histogram",
       }) {
    EXPECT_THAT(text, HasSubstr(std::string(type_line) + "\n"));
  }
  for (const char* reason : {"stop", "length", "abort", "deadline", "error"}) {
    EXPECT_EQ(SampleValue(text, std::string("tspserve:request_success_total{finished_reason=\"") +
                                    reason + "\"}"),
              0);
  }
  for (const char* kind :
       {"broadcast", "all_gather", "reduce_scatter", "all_reduce", "all_to_all", "send_recv"}) {
    EXPECT_EQ(
        SampleValue(text, std::string("tspserve:collective_bytes_total{kind=\"") + kind + "\"}"),
        0);
  }
}

TEST_F(ServerMetricsTest, SecondSetOnOneRegistryIsRejected) {
  absl::StatusOr<std::unique_ptr<ServerMetrics>> again = ServerMetrics::Create(&registry_);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(ServerMetricsTest, FinishedRequests) {
  metrics_->RecordRequestFinished(FinishReason::kCancelled, 2.0, 0.5);
  metrics_->RecordRequestFinished(FinishReason::kStop, 0.75, 0.0);
  metrics_->RecordRequestFinished(FinishReason::kDeadlineExceeded, 30.0, -1);  // never scheduled
  const std::string text = Text();
  EXPECT_EQ(SampleValue(text, "tspserve:request_success_total{finished_reason=\"abort\"}"), 1);
  EXPECT_EQ(SampleValue(text, "tspserve:request_success_total{finished_reason=\"stop\"}"), 1);
  EXPECT_EQ(SampleValue(text, "tspserve:request_success_total{finished_reason=\"deadline\"}"), 1);
  EXPECT_EQ(SampleValue(text, "tspserve:request_success_total{finished_reason=\"length\"}"), 0);
  EXPECT_EQ(SampleValue(text, "tspserve:e2e_request_latency_seconds_count"), 3);
  EXPECT_EQ(SampleValue(text, "tspserve:e2e_request_latency_seconds_sum"), 32.75);
  EXPECT_EQ(SampleValue(text, "tspserve:e2e_request_latency_seconds_bucket{le=\"1\"}"), 1);
  EXPECT_EQ(SampleValue(text, "tspserve:request_queue_time_seconds_count"), 2);
  EXPECT_EQ(SampleValue(text, "tspserve:request_queue_time_seconds_sum"), 0.5);
  EXPECT_TRUE(ValidatePrometheusText(text).ok()) << ValidatePrometheusText(text);
}

TEST_F(ServerMetricsTest, TokensAndPreemptions) {
  metrics_->RecordPromptTokens(7);
  metrics_->RecordPromptTokens(0);
  metrics_->RecordFirstToken(0.125);
  for (int i = 0; i < 3; ++i) metrics_->RecordToken(0.03125);
  metrics_->RecordPreemption();
  const std::string text = Text();
  EXPECT_EQ(SampleValue(text, "tspserve:prompt_tokens_total"), 7);
  EXPECT_EQ(SampleValue(text, "tspserve:generation_tokens_total"), 4);
  EXPECT_EQ(SampleValue(text, "tspserve:num_preemptions_total"), 1);
  EXPECT_EQ(SampleValue(text, "tspserve:time_to_first_token_seconds_count"), 1);
  EXPECT_EQ(SampleValue(text, "tspserve:time_to_first_token_seconds_bucket{le=\"0.1\"}"), 0);
  EXPECT_EQ(SampleValue(text, "tspserve:time_to_first_token_seconds_bucket{le=\"0.25\"}"), 1);
  EXPECT_EQ(SampleValue(text, "tspserve:inter_token_latency_seconds_count"), 3);
  EXPECT_EQ(SampleValue(text, "tspserve:inter_token_latency_seconds_sum"), 0.09375);
  EXPECT_EQ(SampleValue(text, "tspserve:inter_token_latency_seconds_bucket{le=\"0.03\"}"), 0);
  EXPECT_EQ(SampleValue(text, "tspserve:inter_token_latency_seconds_bucket{le=\"0.04\"}"), 3);
}

TEST_F(ServerMetricsTest, LoadAndKvBalance) {
  const std::vector<RankKvUsage> ranks = {{10, 100}, {30, 100}, {0, 50}};
  metrics_->SetLoad(3, 2, ranks);
  std::string text = Text();
  EXPECT_EQ(SampleValue(text, "tspserve:num_requests_running"), 3);
  EXPECT_EQ(SampleValue(text, "tspserve:num_requests_waiting"), 2);
  EXPECT_DOUBLE_EQ(SampleValue(text, "tspserve:kv_cache_usage_perc"), 40.0 / 250.0);
  EXPECT_DOUBLE_EQ(SampleValue(text, "tspserve:kv_cache_usage_perc_by_rank{rank=\"0\"}"), 0.1);
  EXPECT_DOUBLE_EQ(SampleValue(text, "tspserve:kv_cache_usage_perc_by_rank{rank=\"1\"}"), 0.3);
  EXPECT_EQ(SampleValue(text, "tspserve:kv_cache_usage_perc_by_rank{rank=\"2\"}"), 0);
  EXPECT_EQ(SampleValue(text, "tspserve:kv_imbalance"), 30);

  // A rank without pages reads as unused, not as a division by zero; one rank is balanced.
  const std::vector<RankKvUsage> one = {{0, 0}};
  metrics_->SetLoad(0, 0, one);
  text = Text();
  EXPECT_EQ(SampleValue(text, "tspserve:kv_cache_usage_perc"), 0);
  EXPECT_EQ(SampleValue(text, "tspserve:kv_cache_usage_perc_by_rank{rank=\"0\"}"), 0);
  EXPECT_EQ(SampleValue(text, "tspserve:kv_imbalance"), 0);

  metrics_->SetLoad(1, 0, {});
  text = Text();
  EXPECT_EQ(SampleValue(text, "tspserve:num_requests_running"), 1);
  EXPECT_EQ(SampleValue(text, "tspserve:kv_cache_usage_perc"), 0);
  EXPECT_TRUE(ValidatePrometheusText(text).ok()) << ValidatePrometheusText(text);
}

TEST_F(ServerMetricsTest, Collectives) {
  metrics_->AddCollective(CollectiveKind::kAllGather, 0.25, 1024);
  metrics_->AddCollective(CollectiveKind::kAllGather, 0.25, 1024);
  metrics_->AddCollective(CollectiveKind::kSendRecv, 0, 0);
  const std::string text = Text();
  EXPECT_EQ(SampleValue(text, "tspserve:collective_seconds_total{kind=\"all_gather\"}"), 0.5);
  EXPECT_EQ(SampleValue(text, "tspserve:collective_bytes_total{kind=\"all_gather\"}"), 2048);
  EXPECT_EQ(SampleValue(text, "tspserve:collective_bytes_total{kind=\"broadcast\"}"), 0);
}

TEST(ServerMetricsLabelsTest, Labels) {
  EXPECT_EQ(FinishReasonLabel(FinishReason::kStop), "stop");
  EXPECT_EQ(FinishReasonLabel(FinishReason::kLength), "length");
  EXPECT_EQ(FinishReasonLabel(FinishReason::kCancelled), "abort");
  EXPECT_EQ(FinishReasonLabel(FinishReason::kDeadlineExceeded), "deadline");
  EXPECT_EQ(FinishReasonLabel(FinishReason::kError), "error");
  EXPECT_EQ(CollectiveKindLabel(CollectiveKind::kReduceScatter), "reduce_scatter");
  EXPECT_EQ(CollectiveKindLabel(CollectiveKind::kAllToAll), "all_to_all");
}

TEST(ServerMetricsDeathTest, UnfinishedReasonIsABug) {
  Registry registry;
  std::unique_ptr<ServerMetrics> metrics = *ServerMetrics::Create(&registry);
  EXPECT_DEATH(metrics->RecordRequestFinished(FinishReason::kNone, 1, 1), "no finish-reason label");
}

}  // namespace
}  // namespace tspserve::metrics
