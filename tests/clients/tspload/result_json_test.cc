#include "clients/tspload/result_json.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clients/tspload/summary_table.h"

namespace tspserve::tspload {
namespace {

using nlohmann::json;
using testing::ContainsRegex;
using testing::HasSubstr;

std::vector<RequestRecord> Records() {
  RequestRecord ok;
  ok.success = true;
  ok.input_len = 16;
  ok.output_len = 3;
  ok.start_s = 0.25;
  ok.ttft_s = 0.1;
  ok.itls_s = {0.02, 0.03};
  ok.e2el_s = 0.15;
  RequestRecord failed;
  failed.error = "UNAVAILABLE";
  failed.input_len = 16;
  failed.output_len = 2;
  failed.ttft_s = 0.5;
  return {ok, failed};
}

TsploadFlags ClosedLoop() {
  TsploadFlags flags;
  flags.target = "h:1";
  flags.num_requests = 2;
  flags.concurrency = 4;
  flags.shape.max_concurrency = 4;
  flags.percentiles = {50, 99.9};
  return flags;
}

TEST(PercentileKeyTest, IntegralPercentilesHaveNoDecimals) {
  EXPECT_EQ(PercentileKey(99), "p99");
  EXPECT_EQ(PercentileKey(50), "p50");
  EXPECT_EQ(PercentileKey(99.9), "p99.9");
  EXPECT_EQ(PercentileKey(100), "p100");
}

TEST(ResultJsonTest, HasVllmFieldNamesAndPerRequestArrays) {
  const TsploadFlags flags = ClosedLoop();
  const BenchmarkMetrics m = ComputeMetrics(Records(), 2.0, flags.percentiles, flags.slos);
  const json j = ResultJson(flags, "/models/tiny", m, Records());
  for (const char* key : {"completed", "failed", "duration", "total_input_tokens", "total_output_tokens",
                          "request_throughput", "output_throughput", "total_token_throughput",
                          "request_goodput", "errors", "ttfts", "itls", "input_lens", "output_lens",
                          "start_times", "date", "backend", "model_id", "num_prompts", "args"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  for (const char* metric : {"ttft", "tpot", "itl", "e2el"}) {
    for (const char* stat : {"mean", "median", "std", "p50", "p99.9"}) {
      EXPECT_TRUE(j.contains(std::string(stat) + "_" + metric + "_ms")) << stat << "_" << metric;
    }
  }
  EXPECT_EQ(j["completed"], 1);
  EXPECT_EQ(j["failed"], 1);
  EXPECT_EQ(j["total_output_tokens"], 3);
  EXPECT_EQ(j["errors"], json({{"UNAVAILABLE", 1}}));
  EXPECT_TRUE(j["request_goodput"].is_null());
  EXPECT_EQ(j["request_rate"], "inf");
  EXPECT_EQ(j["max_concurrency"], 4);
  EXPECT_EQ(j["model_id"], "/models/tiny");
  EXPECT_EQ(j["input_lens"], json({16, 16}));
  EXPECT_EQ(j["output_lens"], json({3, 0}));  // a failed request generated nothing that counts
  EXPECT_EQ(j["ttfts"], json({0.1, 0.0}));
  EXPECT_EQ(j["itls"], json({json({0.02, 0.03}), json::array()}));
  EXPECT_EQ(j["start_times"][0], 0.25);
  EXPECT_EQ(j["e2els"], json({0.15, 0.0}));
  EXPECT_NEAR(j["mean_tpot_ms"].get<double>(), 25, 1e-9);
  EXPECT_EQ(j["args"]["concurrency"], 4);
  EXPECT_TRUE(j["args"]["temperature"].is_null());
}

TEST(ResultJsonTest, OpenLoopGoodputAndNoErrors) {
  TsploadFlags flags = ClosedLoop();
  flags.shape.request_rate = 3;
  flags.shape.max_concurrency = 0;
  flags.slos.e2el_ms = 1000;
  std::vector<RequestRecord> records = {Records()[0]};
  const json j = ResultJson(flags, "m", ComputeMetrics(records, 0.5, flags.percentiles, flags.slos), records);
  EXPECT_EQ(j["request_rate"], 3.0);
  EXPECT_TRUE(j["max_concurrency"].is_null());
  EXPECT_EQ(j["request_goodput"], 2.0);
  EXPECT_TRUE(j["errors"].is_object());
  EXPECT_TRUE(j["errors"].empty());
}

TEST(WriteJsonFileTest, WritesParsableJsonAndNamesABadPath) {
  const std::string path = (std::filesystem::path(testing::TempDir()) / "tspload_result.json").string();
  ASSERT_TRUE(WriteJsonFile(path, json({{"completed", 3}})).ok());
  std::ifstream in(path);
  EXPECT_EQ(json::parse(in)["completed"], 3);
  const absl::Status bad = WriteJsonFile("/nonexistent/dir/r.json", json::object());
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.message()), HasSubstr("/nonexistent/dir/r.json"));
}

TEST(SummaryTableTest, ListsTotalsPercentilesAndErrors) {
  const TsploadFlags flags = ClosedLoop();
  std::ostringstream out;
  PrintSummary(out, flags.shape, ComputeMetrics(Records(), 2.0, flags.percentiles, flags.slos));
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("Serving Benchmark Result"));
  EXPECT_THAT(text, ContainsRegex("\nSuccessful requests: +1\n"));
  EXPECT_THAT(text, ContainsRegex("\nFailed requests: +1\n"));
  EXPECT_THAT(text, ContainsRegex("\nMaximum request concurrency: +4\n"));
  EXPECT_THAT(text, ContainsRegex("\nRequest rate configured \\(req/s\\): +inf\n"));
  EXPECT_THAT(text, ContainsRegex("\nBenchmark duration \\(s\\): +2\\.00\n"));
  EXPECT_THAT(text, ContainsRegex("\nP99\\.9 TTFT \\(ms\\): +100\\.00\n"));
  EXPECT_THAT(text, ContainsRegex("\nMean TPOT \\(ms\\): +25\\.00\n"));
  EXPECT_THAT(text, ContainsRegex("\nUNAVAILABLE: +1\n"));
  EXPECT_THAT(text, testing::Not(HasSubstr("goodput")));
}

}  // namespace
}  // namespace tspserve::tspload
