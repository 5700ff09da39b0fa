#include "tests/server/grpc/test_server.h"

#include <filesystem>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include "engine/common/check.h"
#include "models/synthetic/make_model.h"

namespace tspserve {

const std::string& TinyModelDir() {
  static const std::string* dir = [] {
    auto* path = new std::string(
        (std::filesystem::path(testing::TempDir()) / "grpc_test_tiny").string());
    std::filesystem::remove_all(*path);
    MakeModelOptions options;
    options.out_dir = *path;
    const absl::Status status = MakeModel(options);
    CHECK(status.ok()) << status;
    return path;
  }();
  return *dir;
}

EngineOptions TinyEngineOptions() {
  EngineOptions options;
  options.model_dir = TinyModelDir();
  options.parallel.mode = ParallelMode::kTsp;
  options.parallel.degree = 2;
  options.kv_cache_bytes = 4 << 20;
  return options;
}

std::unique_ptr<TestServer> StartTestServer(std::optional<EngineOptions> engine_options,
                                            GrpcServerOptions server_options) {
  auto s = std::make_unique<TestServer>();
  server_options.host = "127.0.0.1";
  server_options.port = 0;
  absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(server_options);
  CHECK(server.ok()) << server.status();
  s->server = *std::move(server);
  if (engine_options.has_value()) {
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*engine_options);
    CHECK(engine.ok()) << engine.status();
    s->engine = *std::move(engine);
    s->server->AttachEngine(s->engine.get(), *engine_options);
  }
  s->channel = grpc::CreateChannel(s->server->address(), grpc::InsecureChannelCredentials());
  s->stub = v1::Generation::NewStub(s->channel);
  return s;
}

StreamResult RunGenerate(v1::Generation::Stub& stub, const v1::GenerateRequest& request,
                         std::optional<std::chrono::milliseconds> deadline,
                         const std::string& api_key) {
  grpc::ClientContext context;
  if (deadline.has_value()) context.set_deadline(std::chrono::system_clock::now() + *deadline);
  if (!api_key.empty()) context.AddMetadata("authorization", "Bearer " + api_key);
  StreamResult result;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader = stub.Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    if (response.has_chunk()) {
      result.tokens.insert(result.tokens.end(), response.chunk().token_ids().begin(),
                           response.chunk().token_ids().end());
      result.text += response.chunk().text();
    }
    if (response.has_complete()) result.complete = response.complete();
    result.responses.push_back(response);
  }
  result.status = reader->Finish();
  return result;
}

v1::GenerateRequest GreedyRequest(const std::vector<int32_t>& token_ids, int32_t max_tokens) {
  v1::GenerateRequest request;
  request.mutable_token_ids()->mutable_ids()->Add(token_ids.begin(), token_ids.end());
  request.mutable_sampling()->set_temperature(0);
  request.mutable_stopping()->set_max_tokens(max_tokens);
  request.mutable_stopping()->set_ignore_eos(true);
  return request;
}

}  // namespace tspserve
