// absl::Status <-> grpc::Status. The canonical codes are the same numbers in both.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tspserve {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace tspserve
