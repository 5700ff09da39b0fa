// Buffer: the one owner of an allocation from an Allocator. Move-only; frees on destruction.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <utility>

#include "absl/status/statusor.h"
#include "engine/tensor/allocator.h"
#include "engine/tensor/tensor.h"

namespace tspserve {

class Buffer {
 public:
  Buffer() = default;
  static absl::StatusOr<Buffer> Allocate(Allocator& allocator, size_t bytes, MemoryKind kind,
                                         Device device);
  ~Buffer() { Reset(); }
  Buffer(Buffer&& other) noexcept { *this = std::move(other); }
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  Device device() const { return device_; }
  // A contiguous view of the first bytes of the buffer; CHECKs that it fits.
  Tensor AsTensor(DType dtype, std::initializer_list<int64_t> shape, size_t byte_offset = 0) const;
  void Reset();

 private:
  Allocator* allocator_ = nullptr;
  void* data_ = nullptr;
  size_t size_ = 0;
  MemoryKind kind_ = MemoryKind::kWorkspace;
  Device device_ = Device::kCpu;
};

}  // namespace tspserve
