#include "server/grpc/request_registry.h"

#include "absl/strings/str_cat.h"

namespace tspserve {

bool RequestRegistry::Reserve(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return ids_.emplace(request_id, 0).second;
}

void RequestRegistry::Bind(const std::string& request_id, uint64_t engine_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ids_.find(request_id);
  if (it != ids_.end()) it->second = engine_id;
}

void RequestRegistry::Release(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mu_);
  ids_.erase(request_id);
}

std::optional<uint64_t> RequestRegistry::Find(const std::string& request_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ids_.find(request_id);
  if (it == ids_.end() || it->second == 0) return std::nullopt;
  return it->second;
}

std::string RequestRegistry::NextId() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string id;
  do {
    id = absl::StrCat("req-", next_++);
  } while (ids_.count(id) > 0);
  return id;
}

size_t RequestRegistry::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ids_.size();
}

}  // namespace tspserve
