// CHECKed views of the tensors the CUDA backend's ops take, in the raw pointer/stride form the
// kernels/ launchers want. As on the CPU, a matrix is 2-D with unit column stride and any row
// stride, index vectors are contiguous, and a wrong shape, dtype or device is a caller's bug.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "engine/common/check.h"
#include "engine/tensor/tensor.h"

namespace tspserve::cuda {

inline void CheckDevice(const Tensor& t, const char* name) {
  CHECK(t.device() == Device::kCuda) << name << " is not a CUDA tensor";
}

inline void CheckDType(const Tensor& t, DType dtype, const char* name) {
  CHECK(t.dtype() == dtype) << name << " has dtype " << DTypeName(t.dtype()) << ", want "
                            << DTypeName(dtype);
}

// A row-major matrix: row r starts at data + r * row_stride (elements). A single row's stride is
// reported as `cols`, since it is never used and may be anything in a sliced view.
template <typename T>
struct Matrix {
  T* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_stride = 0;

  int64_t pitch_bytes() const { return row_stride * static_cast<int64_t>(sizeof(T)); }
};

// `t` as a 2-D matrix of any dtype (element size `DTypeSize`), as raw bytes per element.
struct AnyMatrix {
  void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_stride = 0;  // elements
  int64_t element_bytes = 0;
};

inline AnyMatrix Rows(const Tensor& t, const char* name) {
  CheckDevice(t, name);
  CHECK_EQ(t.rank(), 2) << name << " must be 2-D, got " << t.ShapeString();
  CHECK(t.dim(1) <= 1 || t.stride(1) == 1)
      << name << " " << t.ShapeString() << " has strided columns";
  const int64_t stride = t.dim(0) > 1 ? t.stride(0) : t.dim(1);
  return AnyMatrix{t.data(), t.dim(0), t.dim(1), stride,
                   static_cast<int64_t>(DTypeSize(t.dtype()))};
}

inline Matrix<__nv_bfloat16> Bf16Rows(const Tensor& t, const char* name) {
  CheckDType(t, DType::kBF16, name);
  const AnyMatrix m = Rows(t, name);
  return Matrix<__nv_bfloat16>{static_cast<__nv_bfloat16*>(m.data), m.rows, m.cols, m.row_stride};
}

inline Matrix<float> F32Rows(const Tensor& t, const char* name) {
  CheckDType(t, DType::kF32, name);
  const AnyMatrix m = Rows(t, name);
  return Matrix<float>{static_cast<float*>(m.data), m.rows, m.cols, m.row_stride};
}

// A contiguous 1-D device vector of `dtype` with `n` elements (n < 0: any length).
template <typename T>
T* Vector(const Tensor& t, DType dtype, int64_t n, const char* name) {
  CheckDevice(t, name);
  CHECK_EQ(t.rank(), 1) << name << " must be 1-D, got " << t.ShapeString();
  CheckDType(t, dtype, name);
  CHECK(t.is_contiguous()) << name << " must be contiguous";
  if (n >= 0) CHECK_EQ(t.dim(0), n) << name << " has the wrong length";
  return t.data_as<T>();
}

template <typename A, typename B>
void CheckSameShape(const A& a, const B& b, const char* a_name, const char* b_name) {
  CHECK(a.rows == b.rows && a.cols == b.cols)
      << a_name << " [" << a.rows << ", " << a.cols << "] vs " << b_name << " [" << b.rows << ", "
      << b.cols << "]";
}

// One layer's K or V cache [num_blocks, block_size, n_kv, head_dim] in bf16: blocks and slots may
// be strided, the [n_kv, head_dim] row of one slot is contiguous. Strides in elements.
struct CacheView {
  __nv_bfloat16* data = nullptr;
  int64_t num_blocks = 0;
  int64_t block_size = 0;
  int64_t num_heads = 0;
  int64_t head_dim = 0;
  int64_t block_stride = 0;
  int64_t slot_stride = 0;

  int64_t num_slots() const { return num_blocks * block_size; }
  int64_t slot_width() const { return num_heads * head_dim; }
  bool SameLayout(const CacheView& o) const {
    return num_blocks == o.num_blocks && block_size == o.block_size && num_heads == o.num_heads &&
           head_dim == o.head_dim && block_stride == o.block_stride &&
           slot_stride == o.slot_stride;
  }
};

inline CacheView Cache(const Tensor& t, const char* name) {
  CheckDevice(t, name);
  CheckDType(t, DType::kBF16, name);
  CHECK_EQ(t.rank(), 4) << name << " must be [num_blocks, block_size, n_kv, head_dim], got "
                        << t.ShapeString();
  CHECK(t.stride(3) == 1 && t.stride(2) == t.dim(3))
      << name << " " << t.ShapeString() << " has non-contiguous slot rows";
  return CacheView{t.data_as<__nv_bfloat16>(), t.dim(0), t.dim(1), t.dim(2), t.dim(3),
                   t.stride(0), t.stride(1)};
}

}  // namespace tspserve::cuda
