// An in-process tspserve gRPC server on 127.0.0.1 (a free port) over the tiny synthetic model,
// and a client that runs one Generate stream to its end.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "engine/engine.h"
#include "server/grpc/grpc_server.h"
#include "tspserve/v1/generate.grpc.pb.h"

namespace tspserve {

// The tiny preset (seed 0) written once per process into the test's temp dir.
const std::string& TinyModelDir();

// TSP on 2 ranks over the tiny model, with 4 MiB of KV cache per rank unless changed.
EngineOptions TinyEngineOptions();

struct TestServer {
  // Declared first so it is destroyed last: the server's Shutdown needs it.
  std::unique_ptr<Engine> engine;
  std::unique_ptr<GrpcServer> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Generation::Stub> stub;
};

// Starts the server; attaches an engine made from `engine_options` unless it is nullopt (the
// server then stays NOT_SERVING). CHECK-fails on any error (tests only).
std::unique_ptr<TestServer> StartTestServer(std::optional<EngineOptions> engine_options,
                                            GrpcServerOptions server_options = {});

struct StreamResult {
  grpc::Status status;
  std::vector<v1::GenerateResponse> responses;
  std::vector<int32_t> tokens;  // all chunks' token ids
  std::string text;             // all chunks' text
  std::optional<v1::Complete> complete;
};

// Runs one Generate stream to its end. `deadline`: from now; `api_key`: sent as a bearer token.
StreamResult RunGenerate(v1::Generation::Stub& stub, const v1::GenerateRequest& request,
                         std::optional<std::chrono::milliseconds> deadline = std::nullopt,
                         const std::string& api_key = "");

// A greedy request for `token_ids` generating exactly `max_tokens` tokens (EOS ignored).
v1::GenerateRequest GreedyRequest(const std::vector<int32_t>& token_ids, int32_t max_tokens);

}  // namespace tspserve
