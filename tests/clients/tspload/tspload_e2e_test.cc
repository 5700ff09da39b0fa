// tspload against a real `tspserve serve` child (the built-in model, TSP on 2 ranks): a closed-loop
// and an open-loop run, checked through the JSON result; and the ready check's timeout.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/testing/serve_process.h"

namespace tspserve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::HasSubstr;

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  result.exit_code = WEXITSTATUS(pclose(pipe));
  return result;
}

class TsploadE2eTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    setenv("TSPSERVE_CACHE_DIR", (fs::path(testing::TempDir()) / "tspload_e2e_cache").c_str(), 1);
    server_ = new ServeProcess({TSPSERVE_BINARY, "serve", "--port", "0", "--degree", "2"});
    server_->WaitFor("listening on ", std::chrono::seconds(60));
    server_->WaitFor("serve: serving", std::chrono::seconds(60));
    address_ = server_->Address();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_FALSE(address_.empty()) << server_->log(); }

  // Runs tspload with `flags`; returns its result JSON (null on failure).
  json RunTspload(const std::string& flags, const std::string& name) {
    const std::string result_path = (fs::path(testing::TempDir()) / name).string();
    fs::remove(result_path);
    const CommandResult run = RunCommand(std::string(TSPLOAD_BINARY) + " --target " + address_ +
                                         " --ready-timeout 60 --result-json " + result_path + " " + flags);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_THAT(run.output, HasSubstr("Serving Benchmark Result"));
    std::ifstream in(result_path);
    if (!in) return json();
    return json::parse(in, nullptr, /*allow_exceptions=*/false);
  }

  static ServeProcess* server_;
  static std::string address_;
};

ServeProcess* TsploadE2eTest::server_ = nullptr;
std::string TsploadE2eTest::address_;

// What every run must satisfy: all n requests completed with exactly output_len tokens each and
// TTFT <= TTFT + ITLs <= E2EL per request.
void ExpectAllCompleted(const json& r, int n, int input_len, int output_len) {
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["completed"], n);
  EXPECT_EQ(r["failed"], 0);
  EXPECT_TRUE(r["errors"].empty()) << r["errors"];
  EXPECT_EQ(r["total_input_tokens"], n * input_len);
  EXPECT_EQ(r["total_output_tokens"], n * output_len);
  ASSERT_EQ(r["ttfts"].size(), static_cast<size_t>(n));
  ASSERT_EQ(r["e2els"].size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const double ttft = r["ttfts"][i].get<double>();
    const double e2el = r["e2els"][i].get<double>();
    double streamed = ttft;
    for (const json& gap : r["itls"][i]) streamed += gap.get<double>();
    EXPECT_GT(ttft, 0) << i;
    EXPECT_LE(ttft, e2el) << i;
    EXPECT_LE(streamed, e2el + 1e-9) << i;
    EXPECT_EQ(r["output_lens"][i], output_len) << i;
    EXPECT_EQ(r["input_lens"][i], input_len) << i;
  }
}

void ExpectDocumentedFields(const json& r) {
  for (const char* key : {"completed", "failed", "duration", "total_input_tokens", "total_output_tokens",
                          "request_throughput", "output_throughput", "total_token_throughput",
                          "request_goodput", "errors", "ttfts", "itls", "input_lens", "output_lens", "args"}) {
    EXPECT_TRUE(r.contains(key)) << key;
  }
  for (const char* metric : {"ttft", "tpot", "itl", "e2el"}) {
    for (const char* stat : {"mean", "median", "std", "p50", "p90", "p99"}) {
      const std::string key = std::string(stat) + "_" + metric + "_ms";
      EXPECT_TRUE(r.contains(key) && r[key].is_number()) << key;
    }
  }
}

TEST_F(TsploadE2eTest, ClosedLoopThenOpenLoop) {
  const json closed = RunTspload(
      "--num-requests 12 --concurrency 4 --input-len 16 --output-len 8 --ignore-eos --warmup-requests 2 "
      "--goodput e2el:60000",
      "closed.json");
  ExpectAllCompleted(closed, 12, 16, 8);
  ExpectDocumentedFields(closed);
  EXPECT_EQ(closed["max_concurrency"], 4);
  EXPECT_EQ(closed["request_goodput"], closed["request_throughput"]) << "every request meets a 60 s SLO";
  EXPECT_GT(closed["mean_tpot_ms"].get<double>(), 0);

  const json open = RunTspload(
      "--num-requests 20 --request-rate 20 --input-len 16 --output-len 8 --ignore-eos --seed 1", "open.json");
  ExpectAllCompleted(open, 20, 16, 8);
  ExpectDocumentedFields(open);
  EXPECT_EQ(open["request_rate"], 20.0);
  // The measured arrival rate: requests after the first over the span of their send times.
  const double span = open["start_times"][19].get<double>() - open["start_times"][0].get<double>();
  ASSERT_GT(span, 0);
  EXPECT_NEAR(19 / span, 20.0, 0.35 * 20.0);
  EXPECT_LE(open["request_throughput"].get<double>(), 20.0 * 1.35);
}

TEST_F(TsploadE2eTest, SharedPrefixAndJsonlPromptsComplete) {
  const json shared = RunTspload(
      "--num-requests 4 --concurrency 2 --dataset shared-prefix --prefix-len 10 --input-len 6 "
      "--output-len 3 --ignore-eos --temperature 0",
      "shared.json");
  ExpectAllCompleted(shared, 4, 16, 3);

  const std::string prompts = (fs::path(testing::TempDir()) / "tspload_e2e_prompts.jsonl").string();
  std::ofstream(prompts) << "{\"prompt\": \"The capital of France is\", \"max_tokens\": 4}\n"
                         << "{\"prompt\": \"Once upon a time\"}\n";
  const json jsonl = RunTspload("--num-requests 3 --concurrency 3 --dataset jsonl --dataset-path " + prompts +
                                    " --output-len 2 --ignore-eos",
                                "jsonl.json");
  ASSERT_TRUE(jsonl.is_object());
  EXPECT_EQ(jsonl["completed"], 3);
  EXPECT_EQ(jsonl["output_lens"], json({4, 2, 4}));
  for (const json& len : jsonl["input_lens"]) EXPECT_GT(len.get<int>(), 0) << "the server's prompt count";
}

TEST_F(TsploadE2eTest, PromptsTooLongForTheContextAreRejectedBeforeSending) {
  const CommandResult run = RunCommand(std::string(TSPLOAD_BINARY) + " --target " + address_ +
                                       " --num-requests 2 --concurrency 1 --input-len 1000000 --output-len 4");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr("context"));
}

// A port nothing listens on: bound, then released.
int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(TsploadReadyCheckTest, NoServerIsAClearErrorAfterTheTimeout) {
  const auto start = std::chrono::steady_clock::now();
  const CommandResult run = RunCommand(std::string(TSPLOAD_BINARY) + " --target 127.0.0.1:" +
                                       std::to_string(UnusedPort()) +
                                       " --num-requests 2 --concurrency 1 --ready-timeout 1");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr("was not SERVING within 1 s"));
  EXPECT_LT(seconds, 10);
}

TEST(TsploadFlagsE2eTest, BadFlagsExitOneWithTheFlagNamed) {
  const CommandResult run = RunCommand(std::string(TSPLOAD_BINARY) +
                                       " --target h:1 --num-requests 2 --concurrency 1 --request-rate 3");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr("--request-rate"));
}

}  // namespace
}  // namespace tspserve
