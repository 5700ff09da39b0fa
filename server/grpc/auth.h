// The optional API key: every call must carry the metadata "authorization: Bearer <key>".
#pragma once

#include <string>

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

namespace tspserve {

// OK when `api_key` is empty or the call carries it; UNAUTHENTICATED otherwise (the message
// never echoes the key).
grpc::Status CheckApiKey(const grpc::ServerContextBase& context, const std::string& api_key);

}  // namespace tspserve
