#include "server/http/http_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/metrics/metrics.h"
#include "engine/metrics/text_validator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tspserve {
namespace {

using ::testing::HasSubstr;

constexpr char kLoopback[] = "127.0.0.1";

// A client with short timeouts, so that a server that is not there fails fast.
httplib::Result Get(int port, const std::string& path) {
  httplib::Client client(kLoopback, port);
  client.set_connection_timeout(std::chrono::seconds(2));
  client.set_read_timeout(std::chrono::seconds(5));
  return client.Get(path);
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    counter_ = *registry_.AddCounter("tspserve:requests_total", "Requests.", {"code"});
    HttpServerOptions options;
    options.host = kLoopback;
    options.live = [this] { return live_.load(); };
    options.ready = [this] { return ready_.load(); };
    server_ = std::make_unique<HttpServer>(&registry_, std::move(options));
    const absl::Status status = server_->Start(0);
    ASSERT_TRUE(status.ok()) << status;
  }

  metrics::Registry registry_;
  metrics::Counter* counter_ = nullptr;
  std::atomic<bool> live_ = true;
  std::atomic<bool> ready_ = false;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, MetricsServesTheRegistryText) {
  ASSERT_TRUE(server_->running());
  ASSERT_GT(server_->port(), 0);
  counter_->Increment({"a\"b"}, 2);
  httplib::Result result = Get(server_->port(), "/metrics");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  EXPECT_THAT(result->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
  EXPECT_EQ(result->body, registry_.RenderPrometheusText());
  EXPECT_THAT(result->body, HasSubstr("tspserve:requests_total{code=\"a\\\"b\"} 2\n"));
  EXPECT_TRUE(metrics::ValidatePrometheusText(result->body).ok());

  counter_->Increment({"a\"b"});  // every scrape renders afresh
  result = Get(server_->port(), "/metrics");
  ASSERT_TRUE(result);
  EXPECT_THAT(result->body, HasSubstr("tspserve:requests_total{code=\"a\\\"b\"} 3\n"));
}

TEST_F(HttpServerTest, HealthAndReadiness) {
  httplib::Result health = Get(server_->port(), "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok");

  httplib::Result ready = Get(server_->port(), "/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(ready->body, "not ready");
  ready_ = true;
  ready = Get(server_->port(), "/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ready");

  live_ = false;  // a dead process is neither live nor ready
  health = Get(server_->port(), "/health");
  ready = Get(server_->port(), "/ready");
  ASSERT_TRUE(health && ready);
  EXPECT_EQ(health->status, 503);
  EXPECT_EQ(ready->status, 503);
}

TEST_F(HttpServerTest, UnknownPathsAre404) {
  for (const char* path : {"/", "/metricsx", "/metrics/extra", "/healthz", "/nope"}) {
    httplib::Result result = Get(server_->port(), path);
    ASSERT_TRUE(result) << path;
    EXPECT_EQ(result->status, 404) << path;
  }
}

TEST_F(HttpServerTest, StopClosesThePortAndAllowsARestart) {
  const int port = server_->port();
  server_->Stop();
  EXPECT_FALSE(server_->running());
  EXPECT_EQ(server_->port(), 0);
  EXPECT_FALSE(Get(port, "/health"));  // connection refused
  server_->Stop();                     // idempotent

  const absl::Status restarted = server_->Start(port);  // the same port is free again
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(server_->port(), port);
  httplib::Result result = Get(port, "/health");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
}

TEST_F(HttpServerTest, PortInUseIsAClearError) {
  HttpServerOptions options;
  options.host = kLoopback;
  HttpServer second(&registry_, options);
  const absl::Status status = second.Start(server_->port());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(absl::StrCat("127.0.0.1:", server_->port())));
  EXPECT_FALSE(second.running());
  // The first server is unaffected.
  httplib::Result result = Get(server_->port(), "/health");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
}

TEST_F(HttpServerTest, StartingTwiceIsRejected) {
  EXPECT_EQ(server_->Start(0).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(server_->running());
}

TEST_F(HttpServerTest, ConcurrentScrapesSeeValidText) {
  constexpr int kClients = 4;
  constexpr int kScrapes = 15;
  std::atomic<bool> stop_writer = false;
  std::thread writer([&] {
    for (int i = 0; !stop_writer; ++i) counter_->Increment({std::to_string(i % 7)});
  });
  std::atomic<int> good = 0;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < kScrapes; ++i) {
        httplib::Result result = Get(server_->port(), "/metrics");
        if (result && result->status == 200 && metrics::ValidatePrometheusText(result->body).ok()) {
          ++good;
        }
      }
    });
  }
  for (std::thread& client : clients) client.join();
  stop_writer = true;
  writer.join();
  EXPECT_EQ(good, kClients * kScrapes);
}

TEST(HttpServerStandaloneTest, RejectsBadArguments) {
  metrics::Registry registry;
  HttpServerOptions options;
  options.host = kLoopback;
  HttpServer server(&registry, options);
  EXPECT_EQ(server.Start(-1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.Start(65536).code(), absl::StatusCode::kInvalidArgument);
  options.num_threads = 0;
  HttpServer no_threads(&registry, options);
  EXPECT_EQ(no_threads.Start(0).code(), absl::StatusCode::kInvalidArgument);
  options.num_threads = 1;
  options.host = "no.such.host.invalid";
  HttpServer bad_host(&registry, options);
  EXPECT_EQ(bad_host.Start(0).code(), absl::StatusCode::kUnavailable);
}

TEST(HttpServerStandaloneTest, NullCallbacksMeanLiveAndReadyAndStopRightAfterStartReturns) {
  metrics::Registry registry;
  HttpServerOptions options;
  options.host = kLoopback;
  options.num_threads = 1;
  HttpServer server(&registry, options);
  ASSERT_TRUE(server.Start(0).ok());
  httplib::Result ready = Get(server.port(), "/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  httplib::Result metrics = Get(server.port(), "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->body, "");  // an empty registry
  server.Stop();
  for (int i = 0; i < 20; ++i) {  // Start then Stop at once never hangs
    ASSERT_TRUE(server.Start(0).ok());
    server.Stop();
  }
}

}  // namespace
}  // namespace tspserve
