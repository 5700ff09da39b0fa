#include "engine/backend/cuda/cuda_resources.h"

#include <utility>

#include "engine/common/check.h"
#include "engine/common/cuda_check.h"
#include "engine/common/status.h"

namespace tspserve {

DeviceGuard::DeviceGuard(int device) {
  CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) {
    CUDA_CHECK(cudaSetDevice(device));
    switched_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (switched_) LogIfCudaError(cudaSetDevice(previous_), "restoring the current device");
}

absl::StatusOr<Stream> Stream::Create() {
  cudaStream_t stream = nullptr;
  RETURN_IF_ERROR(CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
                             "creating a CUDA stream"));
  return Stream(stream);
}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    Reset();
    stream_ = other.release();
  }
  return *this;
}

cudaStream_t Stream::release() { return std::exchange(stream_, nullptr); }

void Stream::Reset() {
  if (stream_ != nullptr) LogIfCudaError(cudaStreamDestroy(release()), "cudaStreamDestroy");
}

absl::StatusOr<Event> Event::Create() {
  cudaEvent_t event = nullptr;
  RETURN_IF_ERROR(CudaStatus(cudaEventCreateWithFlags(&event, cudaEventDisableTiming),
                             "creating a CUDA event"));
  return Event(event);
}

Event& Event::operator=(Event&& other) noexcept {
  if (this != &other) {
    Reset();
    event_ = other.release();
  }
  return *this;
}

cudaEvent_t Event::release() { return std::exchange(event_, nullptr); }

void Event::Reset() {
  if (event_ != nullptr) LogIfCudaError(cudaEventDestroy(release()), "cudaEventDestroy");
}

absl::StatusOr<CublasLtHandle> CublasLtHandle::Create() {
  cublasLtHandle_t handle = nullptr;
  RETURN_IF_ERROR(CublasStatus(cublasLtCreate(&handle), "creating a cuBLASLt handle"));
  return CublasLtHandle(handle);
}

CublasLtHandle& CublasLtHandle::operator=(CublasLtHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    handle_ = other.release();
  }
  return *this;
}

cublasLtHandle_t CublasLtHandle::release() { return std::exchange(handle_, nullptr); }

void CublasLtHandle::Reset() {
  if (handle_ == nullptr) return;
  const cublasStatus_t status = cublasLtDestroy(release());
  if (status != CUBLAS_STATUS_SUCCESS) {
    LOG(ERROR) << "cublasLtDestroy: " << cublasLtGetStatusString(status);
  }
}

}  // namespace tspserve
