// Sends a list of prompts to the server on a load shape's schedule and collects each request's
// timeline. The calling thread dispatches; gRPC's callback threads receive the streams.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "clients/tspload/arrival_process.h"
#include "clients/tspload/dataset.h"
#include "clients/tspload/metrics.h"
#include "clients/tspload/progress_line.h"
#include "clients/tspload/stream_call.h"
#include "tspserve/v1/generate.grpc.pb.h"

namespace tspserve::tspload {

struct RunResult {
  std::vector<RequestRecord> records;  // in prompt order
  double duration_s = 0;               // first send to last stream end
};

class Runner {
 public:
  // `stub` outlives the runner.
  Runner(v1::Generation::Stub* stub, RequestOptions options);

  // Sends prompts[i] at ArrivalOffsets(shape, n, seed)[i] (later when shape.max_concurrency
  // requests are in flight), as request "<id_prefix><i>"; returns once every stream ended.
  RunResult Run(const std::vector<Prompt>& prompts, const LoadShape& shape, uint64_t seed,
                const std::string& id_prefix, ProgressLine* progress);

 private:
  // Blocks until a request may start under the cap, then counts it in flight.
  void AcquireSlot(int max_concurrency);
  void OnRequestDone(size_t index, RequestRecord record, ProgressLine* progress);

  v1::Generation::Stub* stub_;
  RequestOptions options_;
  std::mutex mu_;
  std::condition_variable changed_;
  int in_flight_ = 0;
  int done_ = 0;
  int failed_ = 0;
  std::vector<RequestRecord> records_;
};

}  // namespace tspserve::tspload
