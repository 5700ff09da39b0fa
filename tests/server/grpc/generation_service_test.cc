// The gRPC API end to end over loopback: TSP on 2 ranks (CPU) behind an in-process server.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <chrono>
#include <functional>
#include <thread>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include "health/v1/health.grpc.pb.h"
#include "tests/server/grpc/test_server.h"

namespace tspserve {
namespace {

using namespace std::chrono_literals;

class GenerationServiceTest : public testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = StartTestServer(TinyEngineOptions()).release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static v1::Generation::Stub& stub() { return *server_->stub; }
  static Engine& engine() { return *server_->engine; }

  // Offline greedy tokens for one request on the shared engine.
  static std::vector<int32_t> OfflineTokens(const std::vector<int32_t>& prompt, int32_t max_tokens) {
    GenerateRequest r;
    r.prompt_tokens = prompt;
    r.sampling.temperature = 0;
    r.stopping.max_tokens = max_tokens;
    r.stopping.ignore_eos = true;
    std::vector<GenerateRequest> batch;
    batch.push_back(r);
    return engine().Generate(std::move(batch))[0].tokens;
  }

  // Polls GetLoad until no request runs or waits and no KV page is used, or 10 s pass.
  static bool WaitIdle() {
    for (auto end = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < end;
         std::this_thread::sleep_for(5ms)) {
      grpc::ClientContext context;
      v1::GetLoadResponse load;
      if (!stub().GetLoad(&context, v1::GetLoadRequest(), &load).ok()) return false;
      int32_t used = 0;
      for (int32_t pages : load.kv_pages_used()) used += pages;
      if (load.running() == 0 && load.waiting() == 0 && used == 0) return true;
    }
    return false;
  }

  static TestServer* server_;
};

TestServer* GenerationServiceTest::server_ = nullptr;

TEST_F(GenerationServiceTest, StreamedGreedyOutputEqualsOfflineGenerate) {
  const std::vector<int32_t> prompt = {1, 17, 42, 99, 5, 300, 7};
  v1::GenerateRequest request = GreedyRequest(prompt, 13);
  request.set_request_id("greedy-1");
  const StreamResult r = RunGenerate(stub(), request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.tokens, OfflineTokens(prompt, 13));
  ASSERT_TRUE(r.complete.has_value());
  EXPECT_EQ(r.complete->finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(r.complete->usage().prompt_tokens(), 7);
  EXPECT_EQ(r.complete->usage().completion_tokens(), 13);
  EXPECT_GE(r.complete->timings().finished(), r.complete->timings().first_token());
  EXPECT_GE(r.complete->timings().first_token(), 0);
  EXPECT_TRUE(r.responses.back().has_complete());
  for (const v1::GenerateResponse& response : r.responses) EXPECT_EQ(response.request_id(), "greedy-1");
  // The streamed text is the detokenized output.
  absl::StatusOr<std::string> text = engine().tokenizer().Decode(r.tokens, /*skip_special_tokens=*/true);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(r.text, *text);
}

TEST_F(GenerationServiceTest, TextInputIsTokenizedWithSpecialTokensByDefault) {
  v1::GenerateRequest request = GreedyRequest({}, 6);
  request.set_text("The capital of France is");
  const StreamResult with_bos = RunGenerate(stub(), request);
  ASSERT_TRUE(with_bos.status.ok()) << with_bos.status.error_message();
  const std::vector<int32_t> prompt = engine().tokenizer().Encode("The capital of France is", true);
  EXPECT_EQ(with_bos.complete->usage().prompt_tokens(), static_cast<int32_t>(prompt.size()));
  EXPECT_EQ(with_bos.tokens, OfflineTokens(prompt, 6));
  EXPECT_FALSE(with_bos.responses.front().request_id().empty()) << "the server assigns an id";

  request.set_add_special_tokens(false);
  const StreamResult raw = RunGenerate(stub(), request);
  ASSERT_TRUE(raw.status.ok());
  EXPECT_EQ(raw.complete->usage().prompt_tokens(),
            static_cast<int32_t>(engine().tokenizer().Encode("The capital of France is", false).size()));
}

TEST_F(GenerationServiceTest, ThirtyTwoConcurrentClientsAllComplete) {
  constexpr int kClients = 32;
  std::vector<StreamResult> results(kClients);
  std::vector<std::thread> clients;
  auto prompt_of = [](int i) {
    std::vector<int32_t> p;
    for (int j = 0; j < 3 + i % 11; ++j) p.push_back(1 + (i * 37 + j * 11) % 400);
    return p;
  };
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto channel = grpc::CreateChannel(server_->server->address(), grpc::InsecureChannelCredentials());
      auto client = v1::Generation::NewStub(channel);
      results[i] = RunGenerate(*client, GreedyRequest(prompt_of(i), 5 + i % 7));
    });
  }
  for (std::thread& t : clients) t.join();
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(results[i].status.ok()) << i << ": " << results[i].status.error_message();
    ASSERT_TRUE(results[i].complete.has_value()) << i;
    EXPECT_EQ(results[i].tokens, OfflineTokens(prompt_of(i), 5 + i % 7)) << i;
  }
  EXPECT_TRUE(WaitIdle());
}

TEST_F(GenerationServiceTest, CancelMidStreamFreesTheKvPages) {
  grpc::ClientContext context;
  auto reader = stub().Generate(&context, GreedyRequest({1, 2, 3, 4, 5, 6, 7, 8, 9}, 400));
  v1::GenerateResponse first;
  ASSERT_TRUE(reader->Read(&first));
  ASSERT_TRUE(first.has_chunk());
  context.TryCancel();
  v1::GenerateResponse ignored;
  while (reader->Read(&ignored)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitIdle()) << "the cancelled request still holds pages";
}

TEST_F(GenerationServiceTest, DeadlineShorterThanTheGenerationEndsWithDeadlineExceeded) {
  const StreamResult r = RunGenerate(stub(), GreedyRequest({3, 1, 4, 1, 5}, 500), 150ms);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << r.status.error_message();
  EXPECT_LT(r.tokens.size(), 500u);
  if (r.complete.has_value()) {
    EXPECT_EQ(r.complete->finish_reason(), v1::FINISH_REASON_DEADLINE_EXCEEDED);
  }
  EXPECT_TRUE(WaitIdle());
}

TEST_F(GenerationServiceTest, AbortByRequestIdEndsTheStream) {
  grpc::ClientContext context;
  v1::GenerateRequest request = GreedyRequest({9, 8, 7}, 400);
  request.set_request_id("to-abort");
  auto reader = stub().Generate(&context, request);
  v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));

  // The id is taken while the stream runs.
  const StreamResult duplicate = RunGenerate(stub(), request);
  EXPECT_EQ(duplicate.status.error_code(), grpc::StatusCode::ALREADY_EXISTS);

  grpc::ClientContext abort_context;
  v1::AbortRequest abort;
  abort.set_request_id("to-abort");
  v1::AbortResponse aborted;
  ASSERT_TRUE(stub().Abort(&abort_context, abort, &aborted).ok());
  EXPECT_TRUE(aborted.found());
  std::optional<v1::Complete> complete;
  while (reader->Read(&response)) {
    if (response.has_complete()) complete = response.complete();
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(complete.has_value());
  EXPECT_EQ(complete->finish_reason(), v1::FINISH_REASON_CANCELLED);
  EXPECT_LT(complete->usage().completion_tokens(), 400);

  grpc::ClientContext again;
  ASSERT_TRUE(stub().Abort(&again, abort, &aborted).ok());
  EXPECT_FALSE(aborted.found()) << "a finished request is no longer in flight";
  EXPECT_TRUE(RunGenerate(stub(), GreedyRequest({1, 2}, 2)).status.ok());
  EXPECT_TRUE(WaitIdle());
}

struct InvalidCase {
  const char* name;
  std::function<void(v1::GenerateRequest&)> mutate;
  const char* field;  // must appear in the error message
};

TEST_F(GenerationServiceTest, EachInvalidFieldIsRejectedNamingIt) {
  const std::vector<InvalidCase> cases = {
      {"temperature < 0", [](auto& r) { r.mutable_sampling()->set_temperature(-0.5f); }, "temperature"},
      {"top_p 0", [](auto& r) { r.mutable_sampling()->set_top_p(0); }, "top_p"},
      {"top_p 1.5", [](auto& r) { r.mutable_sampling()->set_top_p(1.5f); }, "top_p"},
      {"min_p 2", [](auto& r) { r.mutable_sampling()->set_min_p(2); }, "min_p"},
      {"top_k -2", [](auto& r) { r.mutable_sampling()->set_top_k(-2); }, "top_k"},
      {"repetition_penalty 0", [](auto& r) { r.mutable_sampling()->set_repetition_penalty(0); }, "repetition_penalty"},
      {"presence_penalty 3", [](auto& r) { r.mutable_sampling()->set_presence_penalty(3); }, "presence_penalty"},
      {"frequency_penalty -3", [](auto& r) { r.mutable_sampling()->set_frequency_penalty(-3); }, "frequency_penalty"},
      {"n 2", [](auto& r) { r.mutable_sampling()->set_n(2); }, "n must be 1"},
      {"n 0", [](auto& r) { r.mutable_sampling()->set_n(0); }, "n must be 1"},
      {"max_tokens 0", [](auto& r) { r.mutable_stopping()->set_max_tokens(0); }, "max_tokens"},
      {"max_tokens -1", [](auto& r) { r.mutable_stopping()->set_max_tokens(-1); }, "max_tokens"},
      {"min_tokens > max", [](auto& r) { r.mutable_stopping()->set_min_tokens(9); }, "min_tokens"},
      {"empty stop", [](auto& r) { r.mutable_stopping()->add_stop(""); }, "stop[0]"},
      {"logprobs 21", [](auto& r) { r.set_logprobs(21); }, "logprobs"},
      {"logprobs -1", [](auto& r) { r.set_logprobs(-1); }, "logprobs"},
      {"priority 1", [](auto& r) { r.set_priority(1); }, "priority"},
      {"token id out of vocab", [](auto& r) { r.mutable_token_ids()->set_ids(1, 1 << 20); }, "token_ids[1]"},
      {"negative token id", [](auto& r) { r.mutable_token_ids()->set_ids(0, -1); }, "token_ids[0]"},
      {"empty token ids", [](auto& r) { r.mutable_token_ids()->clear_ids(); }, "token_ids is empty"},
      {"empty text", [](auto& r) { r.set_text(""); }, "text is empty"},
      {"no input", [](auto& r) { r.clear_input(); }, "input"},
  };
  for (const InvalidCase& c : cases) {
    v1::GenerateRequest request = GreedyRequest({1, 2, 3}, 4);
    c.mutate(request);
    const StreamResult r = RunGenerate(stub(), request);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_NE(r.status.error_message().find(c.field), std::string::npos)
        << c.name << ": " << r.status.error_message();
    EXPECT_TRUE(r.responses.empty()) << c.name;
  }
  EXPECT_TRUE(RunGenerate(stub(), GreedyRequest({1, 2, 3}, 4)).status.ok()) << "the server still serves";
}

TEST_F(GenerationServiceTest, OverLongPromptFailsFast) {
  grpc::ClientContext context;
  v1::GetModelInfoResponse info;
  ASSERT_TRUE(stub().GetModelInfo(&context, v1::GetModelInfoRequest(), &info).ok());
  const auto start = std::chrono::steady_clock::now();
  std::vector<int32_t> prompt(info.max_context_tokens(), 5);
  const StreamResult r = RunGenerate(stub(), GreedyRequest(prompt, 1));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(r.status.error_message().find("context"), std::string::npos) << r.status.error_message();
  // Fits the context with max_tokens but not max_tokens on top.
  prompt.resize(info.max_context_tokens() - 4);
  const StreamResult r2 = RunGenerate(stub(), GreedyRequest(prompt, 5));
  EXPECT_EQ(r2.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(r2.status.error_message().find("max_tokens"), std::string::npos) << r2.status.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(GenerationServiceTest, LogprobsComeWithEveryToken) {
  v1::GenerateRequest request = GreedyRequest({4, 5, 6}, 5);
  request.set_logprobs(3);
  const StreamResult r = RunGenerate(stub(), request);
  ASSERT_TRUE(r.status.ok());
  size_t num_logprobs = 0;
  for (const v1::GenerateResponse& response : r.responses) {
    if (!response.has_chunk()) continue;
    ASSERT_EQ(response.chunk().logprobs_size(), response.chunk().token_ids_size());
    for (int i = 0; i < response.chunk().logprobs_size(); ++i) {
      const v1::Logprobs& lp = response.chunk().logprobs(i);
      EXPECT_EQ(lp.sampled().token_id(), response.chunk().token_ids(i));
      ASSERT_EQ(lp.top_size(), 3);
      // Greedy: the sampled token is the most likely one.
      EXPECT_EQ(lp.top(0).token_id(), lp.sampled().token_id());
      EXPECT_LE(lp.sampled().logprob(), 0.0f);
      EXPECT_GE(lp.top(0).logprob(), lp.top(1).logprob());
      ++num_logprobs;
    }
  }
  EXPECT_EQ(num_logprobs, 5u);
}

TEST_F(GenerationServiceTest, StopStringEndsWithStopAndTheMatch) {
  const std::vector<int32_t> prompt = {11, 12, 13};
  const std::vector<int32_t> tokens = OfflineTokens(prompt, 8);
  absl::StatusOr<std::string> text = engine().tokenizer().Decode(tokens, true);
  ASSERT_TRUE(text.ok());
  // An ASCII character from the second half of the output (a whole UTF-8 character).
  size_t at = text->size() / 2;
  while (at < text->size() && static_cast<unsigned char>((*text)[at]) >= 0x80) ++at;
  if (at >= text->size()) GTEST_SKIP() << "no ASCII character in the second half of " << *text;
  v1::GenerateRequest request = GreedyRequest(prompt, 8);
  const std::string stop = text->substr(at, 1);
  request.mutable_stopping()->add_stop(stop);
  const StreamResult r = RunGenerate(stub(), request);
  ASSERT_TRUE(r.status.ok());
  ASSERT_TRUE(r.complete.has_value());
  EXPECT_EQ(r.complete->finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(r.complete->matched_stop(), stop);
  EXPECT_EQ(r.text, text->substr(0, text->find(stop)));
}

TEST_F(GenerationServiceTest, TokenizeDetokenizeRoundTrip) {
  for (const std::string text : {"Hello, world!", "", "  tabs\tand\nnewlines ", "héllo wörld ✓"}) {
    grpc::ClientContext context;
    v1::TokenizeRequest request;
    request.set_text(text);
    request.set_add_special_tokens(false);
    v1::TokenizeResponse ids;
    ASSERT_TRUE(stub().Tokenize(&context, request, &ids).ok());
    EXPECT_EQ(std::vector<int32_t>(ids.token_ids().begin(), ids.token_ids().end()),
              engine().tokenizer().Encode(text, false));
    grpc::ClientContext context2;
    v1::DetokenizeRequest back;
    *back.mutable_token_ids() = ids.token_ids();
    v1::DetokenizeResponse decoded;
    ASSERT_TRUE(stub().Detokenize(&context2, back, &decoded).ok());
    EXPECT_EQ(decoded.text(), text);
  }
  grpc::ClientContext context;
  v1::TokenizeRequest with_bos;
  with_bos.set_text("x");
  v1::TokenizeResponse ids;
  ASSERT_TRUE(stub().Tokenize(&context, with_bos, &ids).ok());
  EXPECT_EQ(std::vector<int32_t>(ids.token_ids().begin(), ids.token_ids().end()),
            engine().tokenizer().Encode("x", true));
}

TEST_F(GenerationServiceTest, DetokenizeRejectsIdsOutsideTheVocabulary) {
  for (int32_t bad : {-1, engine().tokenizer().vocab_size(), 1 << 30}) {
    grpc::ClientContext context;
    v1::DetokenizeRequest request;
    request.add_token_ids(5);
    request.add_token_ids(bad);
    v1::DetokenizeResponse response;
    const grpc::Status status = stub().Detokenize(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(status.error_message().find("token_ids[1]"), std::string::npos) << status.error_message();
  }
}

TEST_F(GenerationServiceTest, ModelAndServerInfoDescribeTheEngine) {
  grpc::ClientContext c1, c2;
  v1::GetModelInfoResponse model;
  ASSERT_TRUE(stub().GetModelInfo(&c1, v1::GetModelInfoRequest(), &model).ok());
  EXPECT_EQ(model.architecture(), engine().config().architecture_name);
  EXPECT_EQ(model.vocab_size(), engine().config().vocab_size);
  EXPECT_EQ(model.max_context_tokens(), engine().config().max_position_embeddings);
  EXPECT_EQ(model.model_path(), TinyModelDir());
  EXPECT_EQ(std::vector<int32_t>(model.eos_token_ids().begin(), model.eos_token_ids().end()),
            engine().config().eos_token_ids);
  EXPECT_EQ(model.has_bos_token_id(), engine().config().bos_token_id.has_value());
  v1::GetServerInfoResponse info;
  ASSERT_TRUE(stub().GetServerInfo(&c2, v1::GetServerInfoRequest(), &info).ok());
  EXPECT_EQ(info.parallel_mode(), "tsp");
  EXPECT_EQ(info.degree(), 2);
  EXPECT_EQ(info.block_size(), 16);
  EXPECT_EQ(info.kv_pages_per_rank(), engine().GetLoad().kv_pages_total);
  EXPECT_GT(info.kv_pages_per_rank(), 0);
  EXPECT_EQ(info.max_queued_requests(), 4096);
  EXPECT_FALSE(info.version().empty());
}

TEST(GenerationServerTest, HealthGoesFromNotServingToServing) {
  auto s = StartTestServer(std::nullopt);
  auto health = grpc::health::v1::Health::NewStub(s->channel);
  auto check = [&](const std::string& service) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    EXPECT_TRUE(health->Check(&context, request, &response).ok());
    return response.status();
  };
  EXPECT_EQ(check(""), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(check("tspserve.v1.Generation"), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(RunGenerate(*s->stub, GreedyRequest({1, 2}, 2)).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);
  grpc::ClientContext context;
  v1::GetLoadResponse load;
  EXPECT_EQ(s->stub->GetLoad(&context, v1::GetLoadRequest(), &load).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  const EngineOptions options = TinyEngineOptions();
  auto engine = Engine::Create(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  s->engine = *std::move(engine);
  s->server->AttachEngine(s->engine.get(), options);
  EXPECT_EQ(check(""), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(check("tspserve.v1.Generation"), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(RunGenerate(*s->stub, GreedyRequest({1, 2}, 2)).status.ok());
}

TEST(GenerationServerTest, ApiKeyIsEnforcedWhenSet) {
  GrpcServerOptions options;
  options.api_key = "s3cret";
  auto s = StartTestServer(TinyEngineOptions(), options);
  EXPECT_EQ(RunGenerate(*s->stub, GreedyRequest({1, 2}, 2)).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(RunGenerate(*s->stub, GreedyRequest({1, 2}, 2), std::nullopt, "wrong").status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(RunGenerate(*s->stub, GreedyRequest({1, 2}, 2), std::nullopt, "s3cret").status.ok());
  grpc::ClientContext no_key;
  v1::GetLoadResponse load;
  EXPECT_EQ(s->stub->GetLoad(&no_key, v1::GetLoadRequest(), &load).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext with_key;
  with_key.AddMetadata("authorization", "Bearer s3cret");
  EXPECT_TRUE(s->stub->GetLoad(&with_key, v1::GetLoadRequest(), &load).ok());
}

TEST(GenerationServerTest, SmallKvPoolPreemptsAndEveryRequestStillCompletesCorrectly) {
  auto reference = Engine::Create(TinyEngineOptions());
  ASSERT_TRUE(reference.ok()) << reference.status();
  EngineOptions options = TinyEngineOptions();
  options.block_size = 4;
  options.num_kv_blocks = 12;  // per rank: 96 token slots over 2 ranks for all sequences at once
  auto s = StartTestServer(options);
  constexpr int kClients = 8;
  auto prompt_of = [](int i) {
    std::vector<int32_t> p;
    for (int j = 0; j < 6 + 3 * i; ++j) p.push_back(2 + (i * 13 + j * 7) % 300);
    return p;
  };
  std::vector<StreamResult> results(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] { results[i] = RunGenerate(*s->stub, GreedyRequest(prompt_of(i), 24)); });
  }
  for (std::thread& t : clients) t.join();
  int32_t preemptions = 0;
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(results[i].status.ok()) << i << ": " << results[i].status.error_message();
    GenerateRequest r;
    r.prompt_tokens = prompt_of(i);
    r.sampling.temperature = 0;
    r.stopping.max_tokens = 24;
    r.stopping.ignore_eos = true;
    std::vector<GenerateRequest> batch;
    batch.push_back(r);
    EXPECT_EQ(results[i].tokens, (*reference)->Generate(std::move(batch))[0].tokens) << i;
    preemptions += results[i].complete->num_preemptions();
  }
  EXPECT_GT(preemptions, 0) << "the pool was meant to be too small to avoid preemption";
  grpc::ClientContext context;
  v1::GetLoadResponse load;
  ASSERT_TRUE(s->stub->GetLoad(&context, v1::GetLoadRequest(), &load).ok());
  EXPECT_GT(load.num_preemptions(), 0);

  // A request that can never fit in the pool fails at once with FAILED_PRECONDITION.
  const StreamResult never = RunGenerate(*s->stub, GreedyRequest(std::vector<int32_t>(150, 3), 100));
  EXPECT_EQ(never.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << never.status.error_message();
}

TEST(GenerationServerTest, ShutdownCancelsStreamsStillRunningAfterTheGrace) {
  auto s = StartTestServer(TinyEngineOptions());
  grpc::ClientContext context;
  auto reader = s->stub->Generate(&context, GreedyRequest({1, 2, 3}, 450));
  v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));
  const auto start = std::chrono::steady_clock::now();
  s->server->Shutdown(50ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  while (reader->Read(&response)) {
  }
  EXPECT_FALSE(reader->Finish().ok());
  // The engine drops the aborted request within a step.
  EngineLoad load = s->engine->GetLoad();
  for (int i = 0; i < 1000 && load.running + load.waiting > 0; ++i) {
    std::this_thread::sleep_for(5ms);
    load = s->engine->GetLoad();
  }
  EXPECT_EQ(load.running + load.waiting, 0);
}

}  // namespace
}  // namespace tspserve

namespace tspserve {
namespace {

// TLS from certificate files: a client trusting the server's self-signed certificate streams as
// usual; a plaintext client cannot connect.
TEST(GenerationServerTest, TlsFromCertificateFiles) {
  const std::filesystem::path dir = std::filesystem::path(testing::TempDir()) / "tspserve_tls";
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " + key + " -out " + cert +
      " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) GTEST_SKIP() << "openssl is not installed";
  GrpcServerOptions options;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  std::unique_ptr<TestServer> s = StartTestServer(TinyEngineOptions(), options);
  std::ifstream in(cert);
  const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel(s->server->address(), grpc::SslCredentials(ssl), args);
  auto secure = v1::Generation::NewStub(channel);
  const StreamResult ok = RunGenerate(*secure, GreedyRequest({1, 2, 3}, 4));
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.tokens.size(), 4u);
  const StreamResult plain = RunGenerate(*s->stub, GreedyRequest({1, 2, 3}, 4), std::chrono::seconds(2));
  EXPECT_FALSE(plain.status.ok()) << "a plaintext client reached a TLS server";
}

}  // namespace
}  // namespace tspserve
