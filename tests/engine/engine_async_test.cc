// The engine's asynchronous API: streamed deltas, cancellation, deadlines, a bounded queue and
// shutdown, on TSP with 2 ranks (the serving configuration of the quick start).
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/metrics/metrics.h"
#include "engine/metrics/text_validator.h"
#include "models/synthetic/make_model.h"

namespace tspserve {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class EngineAsyncTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string((fs::path(testing::TempDir()) / "engine_async_tiny").string());
    fs::remove_all(*dir_);
    MakeModelOptions options;
    options.out_dir = *dir_;
    ASSERT_TRUE(MakeModel(options).ok());
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::unique_ptr<Engine> MakeEngine(int32_t max_queued = 4096,
                                            metrics::ServerMetrics* server_metrics = nullptr) {
    EngineOptions options;
    options.metrics = server_metrics;
    options.model_dir = *dir_;
    options.parallel = {ParallelMode::kTsp, 2};
    options.kv_cache_bytes = 4 << 20;
    options.max_queued_requests = max_queued;
    auto engine = Engine::Create(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return std::move(*engine);
  }
  static GenerateRequest Greedy(int32_t max_tokens) {
    GenerateRequest r;
    r.prompt_tokens = {5, 6, 7, 8, 9};
    r.sampling.temperature = 0;
    r.stopping.max_tokens = max_tokens;
    r.stopping.ignore_eos = true;
    return r;
  }

  // Collects a request's outputs; Wait() returns once the final one arrived.
  struct Collector {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<RequestOutput> outputs;
    OutputCallback Callback() {
      return [this](const RequestOutput& out) {
        std::lock_guard<std::mutex> lock(mu);
        outputs.push_back(out);
        cv.notify_all();
      };
    }
    bool WaitFor(size_t n, std::chrono::seconds timeout = 30s) {
      std::unique_lock<std::mutex> lock(mu);
      return cv.wait_for(lock, timeout, [&] { return outputs.size() >= n; });
    }
    bool WaitFinished(std::chrono::seconds timeout = 30s) {
      std::unique_lock<std::mutex> lock(mu);
      return cv.wait_for(lock, timeout, [&] { return !outputs.empty() && outputs.back().finished; });
    }
  };

  static std::string* dir_;
};

std::string* EngineAsyncTest::dir_ = nullptr;

TEST_F(EngineAsyncTest, StreamedDeltasAddUpToTheOfflineResult) {
  auto engine = MakeEngine();
  std::vector<GenerateRequest> batch;
  batch.push_back(Greedy(12));
  const GenerateResult offline = engine->Generate(std::move(batch))[0];
  Collector c;
  ASSERT_TRUE(engine->Submit(Greedy(12), c.Callback()).ok());
  ASSERT_TRUE(c.WaitFinished());
  std::vector<int32_t> tokens;
  std::string text;
  for (const RequestOutput& out : c.outputs) {
    tokens.insert(tokens.end(), out.token_ids.begin(), out.token_ids.end());
    text += out.text;
  }
  EXPECT_EQ(tokens, offline.tokens);
  EXPECT_EQ(text, offline.text);
  const RequestOutput& last = c.outputs.back();
  EXPECT_EQ(last.finish_reason, FinishReason::kLength);
  EXPECT_EQ(last.prompt_tokens, 5);
  EXPECT_EQ(last.completion_tokens, 12);
  EXPECT_GE(last.timings.first_token, last.timings.first_scheduled);
  EXPECT_GE(last.timings.finished, last.timings.first_token);
}

TEST_F(EngineAsyncTest, AbortFreesThePagesAndEndsCancelled) {
  auto engine = MakeEngine();
  Collector c;
  absl::StatusOr<uint64_t> id = engine->Submit(Greedy(4000), c.Callback());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(c.WaitFor(3));  // streaming has begun
  const EngineLoad busy = engine->GetLoad();
  EXPECT_EQ(busy.running, 1);
  engine->Abort(*id);
  ASSERT_TRUE(c.WaitFinished());
  EXPECT_EQ(c.outputs.back().finish_reason, FinishReason::kCancelled);
  std::this_thread::sleep_for(50ms);
  const EngineLoad idle = engine->GetLoad();
  EXPECT_EQ(idle.running, 0);
  for (int32_t pages : idle.kv_pages_used) EXPECT_EQ(pages, 0);
}

TEST_F(EngineAsyncTest, DeadlineEndsTheRequest) {
  auto engine = MakeEngine();
  Collector c;
  GenerateRequest r = Greedy(4000);
  r.deadline = std::chrono::steady_clock::now() + 30ms;
  ASSERT_TRUE(engine->Submit(r, c.Callback()).ok());
  ASSERT_TRUE(c.WaitFinished());
  EXPECT_EQ(c.outputs.back().finish_reason, FinishReason::kDeadlineExceeded);
  EXPECT_LT(c.outputs.back().completion_tokens, 4000);
}

TEST_F(EngineAsyncTest, BadRequestsFailAtSubmitAndAFullQueueIsUnavailable) {
  auto engine = MakeEngine(/*max_queued=*/1);
  GenerateRequest bad = Greedy(4);
  bad.sampling.top_p = 2;
  EXPECT_EQ(engine->Submit(bad, [](const RequestOutput&) {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  GenerateRequest huge = Greedy(4);
  huge.prompt_tokens.assign(4000, 3);
  huge.stopping.max_tokens = 200;
  EXPECT_EQ(engine->Submit(huge, [](const RequestOutput&) {}).status().code(),
            absl::StatusCode::kInvalidArgument) << "over the 4096-token context";
  Collector c;
  absl::StatusOr<uint64_t> first = engine->Submit(Greedy(4000), c.Callback());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(engine->Submit(Greedy(4), [](const RequestOutput&) {}).status().code(),
            absl::StatusCode::kUnavailable);
  engine->Abort(*first);
  ASSERT_TRUE(c.WaitFinished());
}

TEST_F(EngineAsyncTest, ShutdownCancelsWhatIsInFlight) {
  Collector c;
  {
    auto engine = MakeEngine();
    ASSERT_TRUE(engine->Submit(Greedy(4000), c.Callback()).ok());
    ASSERT_TRUE(c.WaitFor(1));
  }
  ASSERT_FALSE(c.outputs.empty());
  EXPECT_TRUE(c.outputs.back().finished);
  EXPECT_EQ(c.outputs.back().finish_reason, FinishReason::kCancelled);
}

TEST_F(EngineAsyncTest, ManyConcurrentSubmittersAllComplete) {
  auto engine = MakeEngine();
  std::atomic<int> finished{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&, i] {
      Collector c;
      GenerateRequest r = Greedy(8 + i % 5);
      r.prompt_tokens.push_back(i);
      ASSERT_TRUE(engine->Submit(r, c.Callback()).ok());
      ASSERT_TRUE(c.WaitFinished());
      if (c.outputs.back().completion_tokens == 8 + i % 5) ++finished;
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(finished.load(), 16);
}

TEST_F(EngineAsyncTest, MetricsCountWhatWasServed) {
  metrics::Registry registry;
  auto server_metrics = metrics::ServerMetrics::Create(&registry);
  ASSERT_TRUE(server_metrics.ok());
  auto engine = MakeEngine(4096, server_metrics->get());
  std::vector<GenerateRequest> batch;
  batch.push_back(Greedy(7));
  batch.push_back(Greedy(5));
  for (const GenerateResult& r : engine->Generate(std::move(batch))) ASSERT_TRUE(r.status.ok());
  std::this_thread::sleep_for(20ms);  // the load gauges are published after the last step
  const std::string text = registry.RenderPrometheusText();
  EXPECT_TRUE(metrics::ValidatePrometheusText(text).ok()) << text;
  EXPECT_NE(text.find("tspserve:generation_tokens_total 12\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tspserve:prompt_tokens_total 10\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tspserve:request_success_total{finished_reason=\"length\"} 2\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("tspserve:time_to_first_token_seconds_count 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tspserve:num_requests_running 0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("tspserve:collective_bytes_total{kind=\"all_gather\"} 0\n"), std::string::npos)
      << "TSP on 2 ranks moves K/V: the all-gather counter must have grown";
}

}  // namespace
}  // namespace tspserve
