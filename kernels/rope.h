// Rotary position embedding on the GPU, in place, in Hugging Face's rotate-half convention
// (Backend::Rope).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// For every head of every row t, with p = positions[t], c = cos_sin[p, i], s = cos_sin[p, D/2 + i]
// and i < D/2: x[i] <- x[i] * c - x[i + D/2] * s;  x[i + D/2] <- x[i + D/2] * c + x[i] * s
// (fp32, rounded to bf16 once). A row whose position lies outside [0, max_positions) is left
// unchanged (the host cannot check device positions without a sync).
struct RopeArgs {
  __nv_bfloat16* x = nullptr;  // [num_tokens, width], width = n * head_dim
  int64_t x_row_stride = 0;    // elements
  int64_t num_tokens = 0;
  int64_t width = 0;
  int32_t head_dim = 0;               // even
  const int32_t* positions = nullptr;  // [num_tokens], device
  const float* cos_sin = nullptr;      // [max_positions, head_dim]
  int64_t table_row_stride = 0;       // elements
  int64_t max_positions = 0;
};
cudaError_t LaunchRope(const RopeArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
