// Tensor: a non-owning, strided view of device or host memory. Owning storage is a Buffer
// (buffer.h); a Tensor never frees what it points at, so views are cheap to pass by value.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "engine/common/check.h"
#include "engine/common/dtype.h"

namespace tspserve {

enum class Device : uint8_t { kCpu, kCuda };

class Tensor {
 public:
  static constexpr int kMaxRank = 4;

  Tensor() = default;
  // A contiguous (row-major) view of `data`.
  Tensor(void* data, DType dtype, std::initializer_list<int64_t> shape, Device device = Device::kCpu);
  Tensor(void* data, DType dtype, const int64_t* shape, int rank, Device device = Device::kCpu);

  void* data() const { return data_; }
  template <typename T>
  T* data_as() const { return static_cast<T*>(data_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  int rank() const { return rank_; }
  int64_t dim(int i) const { return shape_[Index(i)]; }
  int64_t stride(int i) const { return strides_[Index(i)]; }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype_); }
  bool empty() const { return data_ == nullptr || numel() == 0; }
  bool is_contiguous() const;
  std::string ShapeString() const;  // "[4, 128]"

  // Rows [begin, end) along dimension 0 (a view; strides unchanged).
  Tensor Slice(int64_t begin, int64_t end) const;
  // The same elements with another shape; requires a contiguous tensor of equal numel.
  Tensor View(std::initializer_list<int64_t> shape) const;
  // Columns [begin, end) of the last dimension (a strided view).
  Tensor Columns(int64_t begin, int64_t end) const;

 private:
  int Index(int i) const {
    DCHECK(i >= -rank_ && i < rank_) << "dim " << i << " of rank " << rank_;
    return i < 0 ? i + rank_ : i;
  }
  void SetContiguousStrides();

  void* data_ = nullptr;
  DType dtype_ = DType::kF32;
  Device device_ = Device::kCpu;
  int rank_ = 0;
  std::array<int64_t, kMaxRank> shape_{};
  std::array<int64_t, kMaxRank> strides_{};  // in elements
};

}  // namespace tspserve
