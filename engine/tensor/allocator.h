// Allocator: where a backend's memory comes from, with the per-kind accounting the reports and
// benchmarks print (measured here, at allocation time, never computed from formulas).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string_view>

#include "absl/status/statusor.h"

namespace tspserve {

enum class MemoryKind : uint8_t { kWeights, kKvCache, kActivations, kWorkspace };
inline constexpr int kNumMemoryKinds = 4;
std::string_view MemoryKindName(MemoryKind kind);  // "weights", "kv_cache", ...

struct MemoryStats {
  std::array<int64_t, kNumMemoryKinds> in_use{};  // bytes, by kind
  std::array<int64_t, kNumMemoryKinds> peak{};    // high-water mark of in_use, by kind
  int64_t total_in_use = 0;
  int64_t total_peak = 0;  // high-water mark of the sum (not the sum of the peaks)
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Returns `bytes` of memory aligned to 256 bytes, or ResourceExhausted naming the size and kind.
  absl::StatusOr<void*> Allocate(size_t bytes, MemoryKind kind);
  void Free(void* ptr, size_t bytes, MemoryKind kind);
  MemoryStats stats() const;
  // Forgets the peaks (in_use stays): lets a benchmark measure one phase.
  void ResetPeaks();

 protected:
  virtual void* RawAllocate(size_t bytes) = 0;  // nullptr when out of memory
  virtual void RawFree(void* ptr) = 0;

 private:
  mutable std::mutex mu_;
  MemoryStats stats_;
};

// Host memory from the C heap.
class HostAllocator final : public Allocator {
 protected:
  void* RawAllocate(size_t bytes) override;
  void RawFree(void* ptr) override;
};

}  // namespace tspserve
