#include "clients/tspload/stream_call.h"

#include <utility>

#include "absl/status/status.h"

namespace tspserve::tspload {
namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

v1::GenerateRequest MakeRequest(const Prompt& prompt, const RequestOptions& options,
                                const std::string& request_id) {
  v1::GenerateRequest request;
  request.set_request_id(request_id);
  if (prompt.token_ids.empty()) {
    request.set_text(prompt.text);
  } else {
    request.mutable_token_ids()->mutable_ids()->Add(prompt.token_ids.begin(), prompt.token_ids.end());
  }
  v1::SamplingParams* sampling = request.mutable_sampling();
  if (options.temperature) sampling->set_temperature(*options.temperature);
  if (options.top_p) sampling->set_top_p(*options.top_p);
  if (options.top_k) sampling->set_top_k(*options.top_k);
  request.mutable_stopping()->set_max_tokens(prompt.max_tokens);
  request.mutable_stopping()->set_ignore_eos(options.ignore_eos);
  return request;
}

StreamCall::StreamCall(const Prompt& prompt, DoneCallback done)
    : done_(std::move(done)), prompt_len_(prompt.prompt_len) {}

void StreamCall::Start(v1::Generation::Stub* stub, const Prompt& prompt, const RequestOptions& options,
                       const std::string& request_id, Clock::time_point benchmark_start,
                       DoneCallback done) {
  auto* call = new StreamCall(prompt, std::move(done));
  call->request_ = MakeRequest(prompt, options, request_id);
  if (!options.api_key.empty()) call->context_.AddMetadata("authorization", "Bearer " + options.api_key);
  stub->async()->Generate(&call->context_, &call->request_, call);
  call->StartRead(&call->response_);
  call->sent_ = Clock::now();
  call->last_message_ = call->sent_;
  call->record_.start_s = Seconds(call->sent_ - benchmark_start);
  call->StartCall();
}

void StreamCall::OnChunk(const v1::Chunk& chunk, Clock::time_point now) {
  if (chunk.token_ids_size() == 0) return;
  if (streamed_tokens_ == 0) {
    record_.ttft_s = Seconds(now - sent_);
  } else {
    record_.itls_s.push_back(Seconds(now - last_token_));
  }
  last_token_ = now;
  streamed_tokens_ += chunk.token_ids_size();
}

void StreamCall::OnReadDone(bool ok) {
  if (!ok) return;  // the stream ended; OnDone follows
  const Clock::time_point now = Clock::now();
  last_message_ = now;
  if (response_.has_chunk()) OnChunk(response_.chunk(), now);
  if (response_.has_complete()) complete_ = response_.complete();
  StartRead(&response_);
}

void StreamCall::OnDone(const grpc::Status& status) {
  record_.success = status.ok() && complete_.has_value();
  if (!status.ok()) {
    record_.error = absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
    record_.error_message = status.error_message();
  } else if (!complete_) {
    record_.error = "INCOMPLETE_STREAM";
    record_.error_message = "the stream ended without a Complete message";
  }
  record_.e2el_s = Seconds(last_message_ - sent_);
  const bool usage = complete_.has_value() && complete_->has_usage();
  record_.output_len = usage ? complete_->usage().completion_tokens() : streamed_tokens_;
  record_.input_len = usage && complete_->usage().prompt_tokens() > 0 ? complete_->usage().prompt_tokens()
                                                                      : prompt_len_;
  DoneCallback done = std::move(done_);
  RequestRecord record = std::move(record_);
  delete this;
  done(std::move(record));
}

}  // namespace tspserve::tspload
