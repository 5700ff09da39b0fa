// One Generate stream. The engine's callback (on the engine thread) queues responses and starts a
// write when none is in flight; OnWriteDone starts the next; after the Complete message the stream
// finishes with its status. A client cancel, a dropped connection or the call's deadline aborts
// the engine request, which frees its KV pages within one step. Nothing here blocks: the engine's
// Submit and Abort only queue work.
//
// Lifetime: the reactor is shared by gRPC (until OnDone) and by the engine's callback (until the
// engine drops the request), so whichever lets go last frees it. gRPC's operations are started
// outside the mutex; Finish is never called while a write is in flight, so OnDone cannot run
// between deciding to write and starting the write.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "server/grpc/service_state.h"
#include "tspserve/v1/generate.pb.h"

namespace tspserve {

class GenerateReactor : public grpc::ServerWriteReactor<v1::GenerateResponse>,
                        public std::enable_shared_from_this<GenerateReactor> {
 public:
  // Validates and submits `request`; on any error the stream finishes at once with that status.
  static grpc::ServerWriteReactor<v1::GenerateResponse>* Start(grpc::CallbackServerContext* context,
                                                               const v1::GenerateRequest& request,
                                                               ServiceState& state);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // Public for make_shared only; use Start.
  GenerateReactor(grpc::CallbackServerContext* context, ServiceState& state);

 private:
  enum class Action { kNone, kWrite, kFinish };

  // Called on the engine thread with each output of the request.
  void Push(const RequestOutput& output);
  // Runs on the calling gRPC thread: submits, or finishes with the error.
  grpc::Status Submit(const v1::GenerateRequest& request);
  // Under mu_: what to start next (sets writing_ / finish_called_ accordingly).
  Action NextLocked();
  void Perform(Action action);
  void AbortEngineRequest();
  void ReleaseRequestId();
  grpc::Status CancelledStatus() const;

  grpc::CallbackServerContext* const context_;
  ServiceState& state_;
  std::string request_id_;
  // The id is reserved in state_.requests until exactly one of the final output, a failed
  // Submit or OnDone releases it (a later stream may reuse it).
  std::atomic<bool> released_{false};
  uint64_t engine_id_ = 0;  // set before Start returns; 0 when never submitted
  std::shared_ptr<GenerateReactor> self_;  // gRPC's reference, dropped in OnDone

  std::mutex mu_;
  std::deque<v1::GenerateResponse> queue_;
  v1::GenerateResponse current_;  // the message being written
  bool writing_ = false;
  bool cancelled_ = false;        // client gone: write nothing more
  bool finish_called_ = false;
  bool done_ = false;
  std::optional<grpc::Status> final_status_;  // set with the Complete message
  grpc::Status finish_status_;
};

}  // namespace tspserve
