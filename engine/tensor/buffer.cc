#include "engine/tensor/buffer.h"

#include "engine/common/check.h"
#include "engine/common/status.h"

namespace tspserve {

absl::StatusOr<Buffer> Buffer::Allocate(Allocator& allocator, size_t bytes, MemoryKind kind,
                                        Device device) {
  ASSIGN_OR_RETURN(void* data, allocator.Allocate(bytes, kind));
  Buffer buffer;
  buffer.allocator_ = &allocator;
  buffer.data_ = data;
  buffer.size_ = bytes;
  buffer.kind_ = kind;
  buffer.device_ = device;
  return buffer;
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    Reset();
    allocator_ = std::exchange(other.allocator_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    kind_ = other.kind_;
    device_ = other.device_;
  }
  return *this;
}

void Buffer::Reset() {
  if (allocator_ != nullptr) allocator_->Free(data_, size_, kind_);
  allocator_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

Tensor Buffer::AsTensor(DType dtype, std::initializer_list<int64_t> shape, size_t byte_offset) const {
  Tensor t(static_cast<char*>(data_) + byte_offset, dtype, shape, device_);
  CHECK_LE(byte_offset + t.nbytes(), size_) << "tensor " << t.ShapeString() << " past buffer end";
  return t;
}

}  // namespace tspserve
