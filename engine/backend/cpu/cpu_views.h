// Typed, CHECKed access to the tensors the CPU ops read and write. Every op argument that is a
// matrix is 2-D with unit column stride and any row stride (a column view of a fused projection
// is a valid matrix); index vectors must be contiguous. A wrong shape, dtype or device is a
// programming error in the caller, so these helpers CHECK rather than return a Status.
#pragma once

#include <cstdint>

#include "engine/common/check.h"
#include "engine/tensor/tensor.h"

namespace tspserve::cpu {

// A row-major matrix of T: row r starts at data + r * row_stride; columns are adjacent.
template <typename T>
struct RowView {
  T* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_stride = 0;  // in elements

  T* row(int64_t r) const { return data + r * row_stride; }
};

// Checks that `t` is a CPU tensor on which the ops can work element by element.
inline void CheckCpu(const Tensor& t, const char* name) {
  CHECK(t.device() == Device::kCpu) << name << " is not a CPU tensor";
}

// `t` as a matrix of `dtype`; CHECKs rank 2 and unit column stride.
template <typename T>
RowView<T> Rows(const Tensor& t, DType dtype, const char* name) {
  CheckCpu(t, name);
  CHECK_EQ(t.rank(), 2) << name << " must be 2-D, got " << t.ShapeString();
  CHECK(t.dtype() == dtype) << name << " has dtype " << DTypeName(t.dtype()) << ", want "
                            << DTypeName(dtype);
  CHECK(t.dim(1) <= 1 || t.stride(1) == 1)
      << name << " " << t.ShapeString() << " has strided columns";
  return RowView<T>{t.data_as<T>(), t.dim(0), t.dim(1), t.stride(0)};
}

inline RowView<float> F32Rows(const Tensor& t, const char* name) {
  return Rows<float>(t, DType::kF32, name);
}

// A contiguous 1-D vector of `dtype` with `n` elements (n < 0: any length).
template <typename T>
const T* Vector(const Tensor& t, DType dtype, int64_t n, const char* name) {
  CheckCpu(t, name);
  CHECK_EQ(t.rank(), 1) << name << " must be 1-D, got " << t.ShapeString();
  CHECK(t.dtype() == dtype) << name << " has dtype " << DTypeName(t.dtype()) << ", want "
                            << DTypeName(dtype);
  CHECK(t.is_contiguous()) << name << " must be contiguous";
  if (n >= 0) CHECK_EQ(t.dim(0), n) << name << " has the wrong length";
  return t.data_as<const T>();
}

inline const int32_t* I32Vector(const Tensor& t, int64_t n, const char* name) {
  return Vector<int32_t>(t, DType::kI32, n, name);
}

inline const float* F32Vector(const Tensor& t, int64_t n, const char* name) {
  return Vector<float>(t, DType::kF32, n, name);
}

// CHECKs that two matrices have the same shape.
template <typename A, typename B>
void CheckSameShape(const RowView<A>& a, const RowView<B>& b, const char* a_name,
                    const char* b_name) {
  CHECK(a.rows == b.rows && a.cols == b.cols)
      << a_name << " [" << a.rows << ", " << a.cols << "] vs " << b_name << " [" << b.rows << ", "
      << b.cols << "]";
}

// One layer's K or V cache [num_blocks, block_size, n_kv, head_dim] in F32. Blocks and slots may be
// strided; the [n_kv, head_dim] row of one slot is contiguous.
struct CacheView {
  float* data = nullptr;
  int64_t num_blocks = 0;
  int64_t block_size = 0;
  int64_t num_heads = 0;
  int64_t head_dim = 0;
  int64_t block_stride = 0;  // in elements
  int64_t slot_stride = 0;

  int64_t num_slots() const { return num_blocks * block_size; }
  int64_t slot_width() const { return num_heads * head_dim; }
  float* slot(int64_t block, int64_t offset) const {
    return data + block * block_stride + offset * slot_stride;
  }
  float* head(int64_t block, int64_t offset, int64_t kv_head) const {
    return slot(block, offset) + kv_head * head_dim;
  }
};

inline CacheView Cache(const Tensor& t, const char* name) {
  CheckCpu(t, name);
  CHECK_EQ(t.rank(), 4) << name << " must be [num_blocks, block_size, n_kv, head_dim], got "
                        << t.ShapeString();
  CHECK(t.dtype() == DType::kF32) << name << " has dtype " << DTypeName(t.dtype());
  CHECK(t.stride(3) == 1 && t.stride(2) == t.dim(3))
      << name << " " << t.ShapeString() << " has non-contiguous slot rows";
  return CacheView{t.data_as<float>(), t.dim(0),    t.dim(1),   t.dim(2),
                   t.dim(3),           t.stride(0), t.stride(1)};
}

}  // namespace tspserve::cpu
