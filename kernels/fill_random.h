// Deterministic uniform fill on the GPU (Backend::FillRandom), so benchmarks build shape-only
// models on the device without checkpoint files.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

enum class FillRandomType { kF32, kBF16 };

// Element i of `data` gets (2u - 1) * scale, u = (SplitMix64(seed + i * 0x9E3779B97F4A7C15) >> 40)
// * 2^-24, SplitMix64(x): x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9; x = (x ^ (x >> 27)) *
// 0x94D049BB133111EB; x ^ (x >> 31). The value is computed in fp32 and rounded to nearest even for
// bf16, exactly as the host formula in Backend::FillRandom.
struct FillRandomArgs {
  void* data = nullptr;  // [numel] contiguous
  int64_t numel = 0;
  FillRandomType type = FillRandomType::kBF16;
  uint64_t seed = 0;
  float scale = 1.0f;
};
cudaError_t LaunchFillRandom(const FillRandomArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
