// `tspserve serve` as a user runs it: a child process on a free port with the built-in model (TSP
// on 2 ranks), queried by the C++ and Python example clients, then drained by SIGTERM.
#include <arpa/inet.h>
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
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/metrics/text_validator.h"
#include "tests/testing/serve_process.h"

namespace tspserve {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout only
};

// Runs a shell command; stderr goes to the test's log.
CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.out.append(buffer, n);
  result.exit_code = WEXITSTATUS(pclose(pipe));
  return result;
}

// A Python 3 that has grpc, or "" when none does.
std::string PythonWithGrpc() {
  for (const char* python : {"/usr/bin/python3", "python3"}) {
    if (RunCommand(std::string(python) + " -c 'import grpc, google.protobuf' 2>/dev/null").exit_code == 0) {
      return python;
    }
  }
  return "";
}

class ServeE2eTest : public testing::Test {
 protected:
  void SetUp() override {
    cache_ = fs::path(testing::TempDir()) / "serve_e2e_cache";
    setenv("TSPSERVE_CACHE_DIR", cache_.c_str(), 1);
  }
  fs::path cache_;
};

TEST_F(ServeE2eTest, ClientsStreamTheOfflineCompletionAndSigtermDrains) {
  ServeProcess serve({TSPSERVE_BINARY, "serve", "--port", "0", "--degree", "2", "--grace-seconds", "5"});
  ASSERT_TRUE(serve.WaitFor("serve: serving", 120s)) << serve.log();
  const std::string address = serve.Address();
  ASSERT_FALSE(address.empty()) << serve.log();
  EXPECT_EQ(address.rfind("127.0.0.1:", 0), 0u) << address;

  const std::string prompt = "'The capital of France is'";
  const CommandResult offline = RunCommand(std::string(TSPSERVE_BINARY) + " generate --degree 2 --temperature 0 --max-tokens 10 --prompt " + prompt);
  ASSERT_EQ(offline.exit_code, 0);
  const CommandResult cpp = RunCommand(std::string(TSPSERVE_CLIENT) + " --target " + address +
                                " --max-tokens 10 --prompt " + prompt);
  EXPECT_EQ(cpp.exit_code, 0);
  EXPECT_EQ(cpp.out, offline.out) << "the streamed greedy text differs from tspserve generate";

  const std::string python = PythonWithGrpc();
  if (python.empty()) {
    std::cerr << "SKIPPED the Python client: no python3 with grpc (install python3-grpcio)\n";
  } else {
    const CommandResult py = RunCommand(python + " " + PYTHON_CLIENT + " --target " + address +
                                 " --max-tokens 10 --prompt " + prompt);
    EXPECT_EQ(py.exit_code, 0);
    EXPECT_EQ(py.out, offline.out);
  }

  EXPECT_EQ(serve.SignalAndWait(SIGTERM, 30s), 0) << serve.log();
  EXPECT_NE(serve.log().find("draining"), std::string::npos) << serve.log();
}

// GET `path` from host:port over plain HTTP/1.0; returns status line and body ("" on failure).
std::string HttpGet(const std::string& address, const std::string& path) {
  const size_t colon = address.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (fd >= 0) close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (write(fd, request.data(), request.size()) < 0) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, static_cast<size_t>(n));
  close(fd);
  return response;
}

std::string Body(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

TEST_F(ServeE2eTest, MetricsCountTheRequestsServed) {
  ServeProcess serve({TSPSERVE_BINARY, "serve", "--port", "0", "--metrics-port", "0", "--degree", "2"});
  ASSERT_TRUE(serve.WaitFor("serve: serving", 120s)) << serve.log();
  const std::string metrics_address = serve.LoggedAfter("metrics on ");
  ASSERT_FALSE(metrics_address.empty()) << serve.log();
  EXPECT_EQ(HttpGet(metrics_address, "/health").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(HttpGet(metrics_address, "/ready").rfind("HTTP/1.1 200", 0), 0u);
  for (int i = 0; i < 2; ++i) {
    const CommandResult r = RunCommand(std::string(TSPSERVE_CLIENT) + " --target " + serve.Address() +
                                       " --max-tokens 10 --prompt 'count me'");
    ASSERT_EQ(r.exit_code, 0);
  }
  const std::string text = Body(HttpGet(metrics_address, "/metrics"));
  EXPECT_TRUE(metrics::ValidatePrometheusText(text).ok()) << text;
  for (const char* sample : {"tspserve:request_success_total{finished_reason=\"length\"} 2\n",
                             "tspserve:generation_tokens_total 20\n",
                             "tspserve:e2e_request_latency_seconds_count 2\n",
                             "tspserve:num_requests_running 0\n"}) {
    EXPECT_NE(text.find(sample), std::string::npos) << sample << " not in\n" << text;
  }
  EXPECT_EQ(serve.SignalAndWait(SIGTERM, 30s), 0) << serve.log();
  EXPECT_NE(serve.log().find("finish_reason=FINISH_REASON_LENGTH prompt_tokens="), std::string::npos)
      << "one structured log line per request:\n" << serve.log();
}

TEST_F(ServeE2eTest, PythonClientRuns) {
  const std::string python = PythonWithGrpc();
  if (python.empty()) GTEST_SKIP() << "no python3 with grpc: install python3-grpcio";
  ServeProcess serve({TSPSERVE_BINARY, "serve", "--port", "0", "--degree", "2", "--api-key", "k"});
  ASSERT_TRUE(serve.WaitFor("serve: serving", 120s)) << serve.log();
  const std::string base = python + " " + PYTHON_CLIENT + " --target " + serve.Address() +
                           " --max-tokens 4 --prompt hello";
  const CommandResult without_key = RunCommand(base + " 2>/dev/null");
  EXPECT_EQ(without_key.exit_code, 1) << "the API key must be enforced";
  const CommandResult with_key = RunCommand(base + " --api-key k");
  EXPECT_EQ(with_key.exit_code, 0);
  EXPECT_FALSE(with_key.out.empty());
  EXPECT_EQ(serve.SignalAndWait(SIGINT, 30s), 0) << serve.log();
}

TEST_F(ServeE2eTest, BadFlagsFailWithAMessage) {
  ServeProcess serve({TSPSERVE_BINARY, "serve", "--port", "0", "--parallel", "bogus"});
  EXPECT_TRUE(serve.WaitFor("--parallel", 30s)) << serve.log();
  ServeProcess tls({TSPSERVE_BINARY, "serve", "--port", "0", "--tls-cert", "/nonexistent/cert.pem"});
  EXPECT_TRUE(tls.WaitFor("--tls-key", 30s)) << tls.log();
}

}  // namespace
}  // namespace tspserve
