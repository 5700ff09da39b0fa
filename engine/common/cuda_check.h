// Checks for CUDA runtime and cuBLAS(Lt) results. Only CUDA translation units (engine/backend/cuda,
// engine/comm/nccl*, GPU tests) include this header; the CPU build never sees it.
//
// CUDA_CHECK / CUBLAS_CHECK are for broken invariants (a failed launch, an invalid handle): they
// CHECK-fail through glog, which prints the file and line, with the expression and the error string.
// CudaStatus / CublasStatus turn a result into an absl::Status for boundaries a caller can act on
// (creating a backend, allocating).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/check.h"

#define CUDA_CHECK(expr)                                                                    \
  do {                                                                                      \
    const cudaError_t tsp_cuda_error_ = (expr);                                             \
    CHECK(tsp_cuda_error_ == cudaSuccess)                                                   \
        << #expr << ": " << cudaGetErrorName(tsp_cuda_error_) << " ("                       \
        << cudaGetErrorString(tsp_cuda_error_) << ")";                                      \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                  \
  do {                                                                                      \
    const cublasStatus_t tsp_cublas_status_ = (expr);                                       \
    CHECK(tsp_cublas_status_ == CUBLAS_STATUS_SUCCESS)                                      \
        << #expr << ": " << cublasLtGetStatusName(tsp_cublas_status_) << " ("               \
        << cublasLtGetStatusString(tsp_cublas_status_) << ")";                              \
  } while (0)

namespace tspserve {

// OK for cudaSuccess; otherwise an error naming `what` and the CUDA error (ResourceExhausted for
// out-of-memory, Internal for the rest). Also resets the runtime's last-error state, so a later
// cudaGetLastError does not report this error again (a sticky error, such as a device fault,
// stays with the context whatever is done here).
inline absl::Status CudaStatus(cudaError_t error, const std::string& what) {
  if (error == cudaSuccess) return absl::OkStatus();
  (void)cudaGetLastError();
  const std::string message =
      absl::StrCat(what, ": ", cudaGetErrorName(error), " (", cudaGetErrorString(error), ")");
  if (error == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

// For destructors, which run during shutdown too, when the runtime may already be unloading: logs
// a failed `what`, never aborts.
inline void LogIfCudaError(cudaError_t error, const char* what) {
  if (error != cudaSuccess && error != cudaErrorCudartUnloading) {
    LOG(ERROR) << what << ": " << cudaGetErrorString(error);
  }
}

// OK for CUBLAS_STATUS_SUCCESS; otherwise an Internal error naming `what` and the status.
inline absl::Status CublasStatus(cublasStatus_t status, const std::string& what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const std::string message = absl::StrCat(what, ": ", cublasLtGetStatusName(status), " (",
                                           cublasLtGetStatusString(status), ")");
  if (status == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

}  // namespace tspserve
