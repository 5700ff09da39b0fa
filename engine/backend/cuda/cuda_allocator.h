// CudaAllocator: device memory of one GPU through cudaMalloc, with the per-kind in-use and peak
// accounting of Allocator.
#pragma once

#include <cstddef>

#include "engine/tensor/allocator.h"

namespace tspserve {

class CudaAllocator final : public Allocator {
 public:
  explicit CudaAllocator(int device) : device_(device) {}

  int device() const { return device_; }

 protected:
  // cudaMalloc on device_ (256-byte aligned); nullptr when it fails, with the error cleared so
  // later launches do not report it.
  void* RawAllocate(size_t bytes) override;
  // cudaFree, which waits for work still using the memory.
  void RawFree(void* ptr) override;

 private:
  const int device_;
};

}  // namespace tspserve
