// tspserve_client: streams one completion from a tspserve server to stdout.
//
//   tspserve_client --target 127.0.0.1:50051 --prompt "Hello" --max-tokens 16
//
// Text arrives as the server generates it; a server still loading its model is waited for (up
// to --timeout); --verbose adds usage and timings on stderr. Exit
// status: 0 on success, 1 when the call fails (its status on stderr).
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "tspserve/v1/generate.grpc.pb.h"

namespace {

struct ClientFlags {
  std::string target = "127.0.0.1:50051";
  std::string prompt;
  int max_tokens = 16;
  float temperature = 0.0f;
  std::string api_key;
  double timeout_seconds = 60;
  bool verbose = false;
};

tspserve::v1::GenerateRequest MakeRequest(const ClientFlags& flags) {
  tspserve::v1::GenerateRequest request;
  request.set_text(flags.prompt);
  request.mutable_sampling()->set_temperature(flags.temperature);
  request.mutable_stopping()->set_max_tokens(flags.max_tokens);
  return request;
}

void PrintComplete(const tspserve::v1::GenerateResponse& response) {
  const tspserve::v1::Complete& done = response.complete();
  std::cerr << "[" << response.request_id() << "] finish="
            << tspserve::v1::FinishReason_Name(done.finish_reason())
            << " prompt=" << done.usage().prompt_tokens()
            << " completion=" << done.usage().completion_tokens()
            << " first_token=" << done.timings().first_token() << "s"
            << " total=" << done.timings().finished() << "s\n";
}

// One Generate call; *streamed is set once any text was printed.
grpc::Status Stream(tspserve::v1::Generation::Stub& stub, const ClientFlags& flags,
                    std::chrono::system_clock::time_point deadline, bool* streamed) {
  grpc::ClientContext context;
  context.set_deadline(deadline);
  context.set_wait_for_ready(true);  // a server still starting is waited for, not an error
  if (!flags.api_key.empty()) context.AddMetadata("authorization", "Bearer " + flags.api_key);
  auto reader = stub.Generate(&context, MakeRequest(flags));
  tspserve::v1::GenerateResponse response;
  while (reader->Read(&response)) {
    *streamed = true;
    if (response.has_chunk()) {
      std::cout << response.chunk().text() << std::flush;
    } else if (flags.verbose) {
      std::cout << "\n";
      PrintComplete(response);
    }
  }
  return reader->Finish();
}

// Retries while the server answers UNAVAILABLE before streaming anything (the model is still
// loading), until the deadline.
int Run(const ClientFlags& flags) {
  auto channel = grpc::CreateChannel(flags.target, grpc::InsecureChannelCredentials());
  auto stub = tspserve::v1::Generation::NewStub(channel);
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(flags.timeout_seconds * 1000));
  bool streamed = false;
  grpc::Status status = Stream(*stub, flags, deadline, &streamed);
  while (status.error_code() == grpc::StatusCode::UNAVAILABLE && !streamed &&
         std::chrono::system_clock::now() + std::chrono::milliseconds(200) < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    status = Stream(*stub, flags, deadline, &streamed);
  }
  std::cout << "\n";
  if (!status.ok()) {
    std::cerr << "error: " << status.error_code() << ": " << status.error_message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ClientFlags flags;
  CLI::App app{"tspserve_client: stream one completion from a tspserve server"};
  app.add_option("--target", flags.target, "server HOST:PORT");
  app.add_option("--prompt", flags.prompt, "prompt text")->required();
  app.add_option("--max-tokens", flags.max_tokens, "tokens to generate at most");
  app.add_option("--temperature", flags.temperature, "0 = greedy");
  app.add_option("--api-key", flags.api_key, "sent as 'authorization: Bearer KEY'");
  app.add_option("--timeout", flags.timeout_seconds, "deadline, seconds");
  app.add_flag("--verbose", flags.verbose, "usage and timings on stderr");
  CLI11_PARSE(app, argc, argv);
  return Run(flags);
}
