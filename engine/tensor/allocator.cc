#include "engine/tensor/allocator.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace tspserve {

std::string_view MemoryKindName(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::kWeights: return "weights";
    case MemoryKind::kKvCache: return "kv_cache";
    case MemoryKind::kActivations: return "activations";
    case MemoryKind::kWorkspace: return "workspace";
  }
  return "?";
}

absl::StatusOr<void*> Allocator::Allocate(size_t bytes, MemoryKind kind) {
  void* ptr = RawAllocate(std::max<size_t>(bytes, 1));
  if (ptr == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("out of memory allocating ", bytes, " bytes for ",
                                                     std::string(MemoryKindName(kind))));
  }
  std::lock_guard<std::mutex> lock(mu_);
  const int k = static_cast<int>(kind);
  stats_.in_use[k] += static_cast<int64_t>(bytes);
  stats_.peak[k] = std::max(stats_.peak[k], stats_.in_use[k]);
  stats_.total_in_use += static_cast<int64_t>(bytes);
  stats_.total_peak = std::max(stats_.total_peak, stats_.total_in_use);
  return ptr;
}

void Allocator::Free(void* ptr, size_t bytes, MemoryKind kind) {
  if (ptr == nullptr) return;
  RawFree(ptr);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.in_use[static_cast<int>(kind)] -= static_cast<int64_t>(bytes);
  stats_.total_in_use -= static_cast<int64_t>(bytes);
}

MemoryStats Allocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Allocator::ResetPeaks() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak = stats_.in_use;
  stats_.total_peak = stats_.total_in_use;
}

void* HostAllocator::RawAllocate(size_t bytes) {
  return std::aligned_alloc(256, (bytes + 255) / 256 * 256);
}

void HostAllocator::RawFree(void* ptr) { std::free(ptr); }

}  // namespace tspserve
