#include "server/grpc/auth.h"

namespace tspserve {
namespace {

// Compares every byte whatever the first difference, so timing does not reveal a prefix.
bool ConstantTimeEquals(const grpc::string_ref& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < b.size(); ++i) diff |= static_cast<unsigned char>(a.data()[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

grpc::Status CheckApiKey(const grpc::ServerContextBase& context, const std::string& api_key) {
  if (api_key.empty()) return grpc::Status::OK;
  const std::string expected = "Bearer " + api_key;
  const auto& metadata = context.client_metadata();
  for (auto [it, end] = metadata.equal_range("authorization"); it != end; ++it) {
    if (ConstantTimeEquals(it->second, expected)) return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "missing or wrong API key: send metadata \"authorization: Bearer <key>\"");
}

}  // namespace tspserve
