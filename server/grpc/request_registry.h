// The client-visible request ids of the Generate streams in flight, and the engine ids behind
// them, so that Abort can find a stream by the id the client chose. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace tspserve {

class RequestRegistry {
 public:
  // Claims `request_id` for a new stream; false when a stream in flight already holds it.
  bool Reserve(const std::string& request_id);
  // Records the engine's id once Submit accepted the request (ignored after Release).
  void Bind(const std::string& request_id, uint64_t engine_id);
  void Release(const std::string& request_id);
  // The engine id of a stream in flight, if it has one.
  std::optional<uint64_t> Find(const std::string& request_id) const;
  // A fresh server-chosen id ("req-<n>") for requests that came without one.
  std::string NextId();
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> ids_;  // 0 until bound
  uint64_t next_ = 1;
};

}  // namespace tspserve
