// DeviceRates: the two rates a benchmark's floor divides by, measured on the backend's own device
// at start (never taken from a data sheet): the bf16 matrix-product rate and the memory copy rate.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "engine/backend/backend.h"

namespace tspserve::bench {

struct DeviceRates {
  double matmul_flops_per_s = 0;  // out = x·wᵀ at M = N = K = size, compute dtype
  double copy_bytes_per_s = 0;    // device-to-device copy, bytes read plus bytes written
  int64_t matmul_size = 0;
  std::string dtype;              // the compute dtype the products ran in
  int64_t copy_bytes = 0;         // size of the copied buffer
};

// Runs each measurement a few times after a warm-up and keeps the best. `matmul_size` and
// `copy_bytes` pick the problem sizes (large on a GPU, small on the CPU).
absl::StatusOr<DeviceRates> MeasureDeviceRates(Backend& backend, int64_t matmul_size, int64_t copy_bytes);

}  // namespace tspserve::bench
