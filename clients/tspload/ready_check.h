// Waits for a server to be ready: its grpc.health.v1 service answers SERVING for the whole server.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/status.h"

namespace tspserve::tspload {

// Polls Health/Check (service "") until it answers SERVING. After `timeout_s` seconds: a
// DEADLINE_EXCEEDED error naming `target` and the last answer (unreachable, NOT_SERVING, ...).
absl::Status WaitUntilServing(const std::shared_ptr<grpc::Channel>& channel, const std::string& target,
                              double timeout_s);

}  // namespace tspserve::tspload
