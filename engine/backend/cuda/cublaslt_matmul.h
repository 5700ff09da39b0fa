// CublasLtMatmul: the CUDA backend's dense product out = x · wᵀ (+ out) on bf16 row-major strided
// matrices with fp32 accumulation, through cuBLASLt, falling back to kernels/matmul_fallback.h for
// shapes cuBLASLt offers no algorithm for (K == 0, odd strides, misaligned column views).
//
// In cuBLASLt's column-major terms a row-major [r, c] matrix with row stride ld is a column-major
// [c, r] matrix with leading dimension ld, so the product is computed as outᵀ = w · xᵀ:
// A = w ([K, N] column-major, op T), B = x ([K, M], op N), C = D = out ([N, M]).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "kernels/matmul_fallback.h"

namespace tspserve {

class CublasLtMatmul {
 public:
  // `handle` and the `workspace_bytes` of device memory at `workspace` are the caller's and must
  // outlive this object; the workspace is used by one product at a time (stream order).
  CublasLtMatmul(cublasLtHandle_t handle, void* workspace, size_t workspace_bytes);
  ~CublasLtMatmul();
  CublasLtMatmul(const CublasLtMatmul&) = delete;
  CublasLtMatmul& operator=(const CublasLtMatmul&) = delete;

  // Enqueues the product described by `args` (see kernels::MatMulArgs) on `stream`. M == 0 or
  // N == 0 is a no-op. CHECK-fails only if neither cuBLASLt nor the fallback can launch.
  void Run(const kernels::MatMulArgs& args, cudaStream_t stream);

 private:
  // What the chosen algorithm depends on: sizes, leading dimensions, beta != 0 and the alignment
  // (in bytes, capped at 256) of each operand's base address.
  struct Key {
    int64_t m, n, k, ldx, ldw, ldo;
    bool accumulate;
    bool out_f32;
    uint32_t align_x, align_w, align_out;
    auto Tie() const {
      return std::tie(m, n, k, ldx, ldw, ldo, accumulate, out_f32, align_x, align_w, align_out);
    }
    bool operator<(const Key& other) const { return Tie() < other.Tie(); }
  };
  struct Plan;

  static Key MakeKey(const kernels::MatMulArgs& args);
  std::unique_ptr<Plan> MakePlan(const Key& key) const;
  // The cached plan for `key`, made on first use. Plans are never erased, so the pointer stays valid.
  Plan& FindPlan(const Key& key);

  cublasLtHandle_t handle_;
  void* workspace_;
  size_t workspace_bytes_;
  std::mutex mu_;
  std::map<Key, std::unique_ptr<Plan>> plans_;  // guarded by mu_
};

}  // namespace tspserve
