#include "engine/backend/cuda/cuda_allocator.h"

#include <cuda_runtime.h>

#include "engine/backend/cuda/cuda_resources.h"
#include "engine/common/check.h"

namespace tspserve {

void* CudaAllocator::RawAllocate(size_t bytes) {
  DeviceGuard guard(device_);
  void* ptr = nullptr;
  const cudaError_t error = cudaMalloc(&ptr, bytes);
  if (error != cudaSuccess) {
    (void)cudaGetLastError();  // Allocator reports the failure as ResourceExhausted
    return nullptr;
  }
  return ptr;
}

void CudaAllocator::RawFree(void* ptr) {
  DeviceGuard guard(device_);
  const cudaError_t error = cudaFree(ptr);
  if (error != cudaSuccess && error != cudaErrorCudartUnloading) {
    LOG(ERROR) << "cudaFree on device " << device_ << ": " << cudaGetErrorString(error);
  }
}

}  // namespace tspserve
