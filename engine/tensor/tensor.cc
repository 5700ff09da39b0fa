#include "engine/tensor/tensor.h"

#include "absl/strings/str_join.h"

namespace tspserve {

Tensor::Tensor(void* data, DType dtype, std::initializer_list<int64_t> shape, Device device)
    : Tensor(data, dtype, shape.begin(), static_cast<int>(shape.size()), device) {}

Tensor::Tensor(void* data, DType dtype, const int64_t* shape, int rank, Device device)
    : data_(data), dtype_(dtype), device_(device), rank_(rank) {
  CHECK(rank >= 0 && rank <= kMaxRank) << "tensor rank " << rank;
  for (int i = 0; i < rank; ++i) {
    CHECK_GE(shape[i], 0) << "negative extent";
    shape_[i] = shape[i];
  }
  SetContiguousStrides();
}

void Tensor::SetContiguousStrides() {
  int64_t stride = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    strides_[i] = stride;
    stride *= shape_[i];
  }
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= shape_[i];
  return n;
}

bool Tensor::is_contiguous() const {
  int64_t stride = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != stride) return false;
    stride *= shape_[i];
  }
  return true;
}

std::string Tensor::ShapeString() const {
  return absl::StrCat("[", absl::StrJoin(shape_.begin(), shape_.begin() + rank_, ", "), "]");
}

Tensor Tensor::Slice(int64_t begin, int64_t end) const {
  CHECK_GE(rank_, 1);
  CHECK(0 <= begin && begin <= end && end <= shape_[0])
      << "slice [" << begin << ", " << end << ") of " << ShapeString();
  Tensor t = *this;
  t.data_ = static_cast<char*>(data_) + begin * strides_[0] * static_cast<int64_t>(DTypeSize(dtype_));
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::View(std::initializer_list<int64_t> shape) const {
  CHECK(is_contiguous()) << "View of a strided tensor " << ShapeString();
  Tensor t(data_, dtype_, shape, device_);
  CHECK_EQ(t.numel(), numel()) << "View " << t.ShapeString() << " of " << ShapeString();
  return t;
}

Tensor Tensor::Columns(int64_t begin, int64_t end) const {
  CHECK_GE(rank_, 1);
  const int last = rank_ - 1;
  CHECK(0 <= begin && begin <= end && end <= shape_[last])
      << "columns [" << begin << ", " << end << ") of " << ShapeString();
  Tensor t = *this;
  t.data_ = static_cast<char*>(data_) + begin * strides_[last] * static_cast<int64_t>(DTypeSize(dtype_));
  t.shape_[last] = end - begin;
  return t;
}

}  // namespace tspserve
