#include "server/grpc/generate_reactor.h"

#include <chrono>
#include <utility>
#include <vector>

#include "engine/common/check.h"
#include "server/grpc/auth.h"
#include "server/grpc/request_conversion.h"
#include "server/grpc/status_conversion.h"

namespace tspserve {
namespace {

// The status a stream ends with once its Complete message is written.
grpc::Status StatusOfFinish(const RequestOutput& output) {
  switch (output.finish_reason) {
    case FinishReason::kDeadlineExceeded:
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the request's deadline passed");
    case FinishReason::kCancelled:
      return grpc::Status(grpc::StatusCode::CANCELLED, "the request was cancelled");
    case FinishReason::kError:
      return grpc::Status(grpc::StatusCode::INTERNAL, std::string(output.status.message()));
    default:
      return grpc::Status::OK;
  }
}

// The call's deadline on the engine's clock; nullopt when the client set none.
std::optional<std::chrono::steady_clock::time_point> EngineDeadline(
    const grpc::CallbackServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return std::nullopt;
  const auto remaining = deadline - std::chrono::system_clock::now();
  if (remaining > std::chrono::hours(24 * 365)) return std::nullopt;
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(remaining);
}

}  // namespace

GenerateReactor::GenerateReactor(grpc::CallbackServerContext* context, ServiceState& state)
    : context_(context), state_(state) {}

grpc::ServerWriteReactor<v1::GenerateResponse>* GenerateReactor::Start(
    grpc::CallbackServerContext* context, const v1::GenerateRequest& request, ServiceState& state) {
  auto reactor = std::make_shared<GenerateReactor>(context, state);
  reactor->self_ = reactor;
  grpc::Status status = reactor->Submit(request);
  if (!status.ok()) {
    // No other thread knows the reactor yet: the engine never accepted the request.
    reactor->finish_called_ = true;
    reactor->Finish(status);
  }
  return reactor.get();
}

grpc::Status GenerateReactor::Submit(const v1::GenerateRequest& request) {
  grpc::Status auth = CheckApiKey(*context_, state_.api_key);
  if (!auth.ok()) return auth;
  Engine* engine = state_.engine.load();
  if (engine == nullptr) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the model is loading");
  absl::StatusOr<GenerateRequest> converted =
      ToEngineRequest(request, engine->tokenizer(), engine->config());
  if (!converted.ok()) return ToGrpcStatus(converted.status());
  converted->deadline = EngineDeadline(*context_);
  const std::string id_wanted =
      request.request_id().empty() ? state_.requests.NextId() : request.request_id();
  if (!state_.requests.Reserve(id_wanted)) {
    return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                        "request_id \"" + id_wanted + "\" is already in flight");
  }
  request_id_ = id_wanted;
  std::shared_ptr<GenerateReactor> self = shared_from_this();
  absl::StatusOr<uint64_t> id = engine->Submit(
      *std::move(converted), [self](const RequestOutput& output) { self->Push(output); });
  if (!id.ok()) {
    ReleaseRequestId();
    return ToGrpcStatus(id.status());
  }
  engine_id_ = *id;
  state_.requests.Bind(request_id_, engine_id_);
  return grpc::Status::OK;
}

namespace {

// One structured line per finished request (key=value pairs, request id first).
void LogFinished(const std::string& request_id, const RequestOutput& output) {
  LOG(INFO) << "request_id=" << request_id
            << " finish_reason=" << v1::FinishReason_Name(ToWireFinishReason(output.finish_reason))
            << " prompt_tokens=" << output.prompt_tokens
            << " completion_tokens=" << output.completion_tokens
            << " preemptions=" << output.num_preemptions
            << " queue_s=" << output.timings.first_scheduled
            << " ttft_s=" << output.timings.first_token << " e2e_s=" << output.timings.finished
            << (output.status.ok() ? "" : " error=\"" + std::string(output.status.message()) + "\"");
}

}  // namespace

void GenerateReactor::Push(const RequestOutput& output) {
  std::vector<v1::GenerateResponse> responses = ToResponses(output, request_id_);
  if (output.finished) {
    LogFinished(request_id_, output);
    ReleaseRequestId();
  }
  Action action;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_ || finish_called_) return;
    for (v1::GenerateResponse& r : responses) queue_.push_back(std::move(r));
    if (output.finished) final_status_ = StatusOfFinish(output);
    action = NextLocked();
  }
  Perform(action);
}

GenerateReactor::Action GenerateReactor::NextLocked() {
  if (writing_ || finish_called_) return Action::kNone;
  if (!cancelled_ && !queue_.empty()) {
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    return Action::kWrite;
  }
  if (cancelled_) {
    finish_called_ = true;
    finish_status_ = CancelledStatus();
    return Action::kFinish;
  }
  if (final_status_.has_value() && queue_.empty()) {
    finish_called_ = true;
    finish_status_ = *final_status_;
    return Action::kFinish;
  }
  return Action::kNone;
}

void GenerateReactor::Perform(Action action) {
  if (action == Action::kWrite) StartWrite(&current_);
  if (action == Action::kFinish) Finish(finish_status_);
}

void GenerateReactor::OnWriteDone(bool ok) {
  Action action;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) cancelled_ = true;
    action = NextLocked();
  }
  if (!ok) AbortEngineRequest();
  Perform(action);
}

void GenerateReactor::OnCancel() {
  Action action;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    action = NextLocked();
  }
  AbortEngineRequest();
  Perform(action);
}

void GenerateReactor::OnDone() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  ReleaseRequestId();
  std::shared_ptr<GenerateReactor> last = std::move(self_);
}

void GenerateReactor::ReleaseRequestId() {
  if (!request_id_.empty() && !released_.exchange(true)) state_.requests.Release(request_id_);
}

void GenerateReactor::AbortEngineRequest() {
  Engine* engine = state_.engine.load();
  if (engine != nullptr && engine_id_ != 0) engine->Abort(engine_id_);
}

grpc::Status GenerateReactor::CancelledStatus() const {
  if (context_->deadline() <= std::chrono::system_clock::now()) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the request's deadline passed");
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "the request was cancelled");
}

}  // namespace tspserve
