#include "clients/tspload/ready_check.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <grpcpp/client_context.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "health/v1/health.grpc.pb.h"

namespace tspserve::tspload {
namespace {

using grpc::health::v1::HealthCheckResponse;
using SystemClock = std::chrono::system_clock;

constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr auto kMaxAttempt = std::chrono::seconds(2);

// One Check call ending by `deadline`; returns "" when SERVING, else what was answered.
std::string CheckOnce(grpc::health::v1::Health::Stub& stub, SystemClock::time_point deadline) {
  grpc::ClientContext context;
  context.set_deadline(std::min(deadline, SystemClock::now() + kMaxAttempt));
  context.set_wait_for_ready(true);  // a server still binding its port is waited for
  HealthCheckResponse response;
  const grpc::Status status = stub.Check(&context, grpc::health::v1::HealthCheckRequest(), &response);
  if (!status.ok()) {
    return absl::StrCat("health check failed: ",
                        absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                        status.error_message().empty() ? "" : ": ", status.error_message());
  }
  if (response.status() == HealthCheckResponse::SERVING) return "";
  return HealthCheckResponse::ServingStatus_Name(response.status());
}

}  // namespace

absl::Status WaitUntilServing(const std::shared_ptr<grpc::Channel>& channel, const std::string& target,
                              double timeout_s) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  const auto deadline = SystemClock::now() + std::chrono::duration_cast<SystemClock::duration>(
                                                 std::chrono::duration<double>(timeout_s));
  std::string last = "no answer";
  while (SystemClock::now() < deadline) {
    last = CheckOnce(*stub, deadline);
    if (last.empty()) return absl::OkStatus();
    std::this_thread::sleep_for(kPollInterval);
  }
  return absl::DeadlineExceededError(absl::StrFormat(
      "the server at %s was not SERVING within %g s (last answer: %s)", target, timeout_s, last));
}

}  // namespace tspserve::tspload
