// One streamed Generate call through gRPC's callback API, recording the client-side timeline
// (send, every token-carrying chunk, end of stream) with steady_clock.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <grpcpp/client_context.h>
#include <grpcpp/support/client_callback.h>

#include "clients/tspload/dataset.h"
#include "clients/tspload/metrics.h"
#include "tspserve/v1/generate.grpc.pb.h"

namespace tspserve::tspload {

using Clock = std::chrono::steady_clock;

// Request fields every benchmark request shares; unset sampling fields take the server's defaults.
struct RequestOptions {
  bool ignore_eos = false;
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int> top_k;
  std::string api_key;  // "" = no authorization metadata
};

// The GenerateRequest for `prompt`, named `request_id`.
v1::GenerateRequest MakeRequest(const Prompt& prompt, const RequestOptions& options,
                                const std::string& request_id);

// Starts a call that owns itself: when the stream ends, `done` runs once on a gRPC thread with
// the request's record (start_s relative to `benchmark_start`) and the call deletes itself.
// A request succeeds when the stream ends OK after its Complete message.
class StreamCall : public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  using DoneCallback = std::function<void(RequestRecord)>;
  static void Start(v1::Generation::Stub* stub, const Prompt& prompt, const RequestOptions& options,
                    const std::string& request_id, Clock::time_point benchmark_start, DoneCallback done);

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  StreamCall(const Prompt& prompt, DoneCallback done);
  void OnChunk(const v1::Chunk& chunk, Clock::time_point now);

  grpc::ClientContext context_;
  v1::GenerateRequest request_;
  v1::GenerateResponse response_;
  DoneCallback done_;
  RequestRecord record_;
  int prompt_len_ = 0;
  Clock::time_point sent_;
  Clock::time_point last_token_;
  Clock::time_point last_message_;
  int streamed_tokens_ = 0;
  std::optional<v1::Complete> complete_;
};

}  // namespace tspserve::tspload
