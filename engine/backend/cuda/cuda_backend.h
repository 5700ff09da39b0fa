// The CUDA backend's public face: no CUDA header here, so engine/runtime and the tests include it
// from plain C++. The backend computes in bf16 with fp32 accumulation (cuBLASLt for products,
// kernels/ for the rest), issues every op on one stream it owns, and takes device memory through
// an allocator that tracks the peak of each MemoryKind.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "engine/backend/backend.h"

namespace tspserve {

// CUDA devices this process can use; 0 when there is no driver or no device (never fails).
int CudaDeviceCount();

// A backend on device `device` (in [0, CudaDeviceCount())). One thread at a time may call it (a
// rank's worker), whichever thread that is: each method sets the device for the caller first.
absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(int device);

}  // namespace tspserve
