#include "kernels/silu_mul.h"

#include "kernels/launch_utils.cuh"

namespace tspserve::kernels {
namespace {

template <int V>
__global__ void SiluMulKernel(SiluMulArgs args) {
  const int64_t vectors_per_row = args.cols / V;
  const int64_t total = args.rows * vectors_per_row;
  for (int64_t i = GlobalThreadIndex(); i < total; i += GlobalThreadCount()) {
    const int64_t r = i / vectors_per_row;
    const int64_t c = (i - r * vectors_per_row) * V;
    const __nv_bfloat16* gate = args.gate_up + r * args.gate_up_row_stride + c;
    float g[V], u[V];
    LoadBf16<V>(gate, g);
    LoadBf16<V>(gate + args.cols, u);
#pragma unroll
    for (int k = 0; k < V; ++k) g[k] = g[k] / (1.0f + __expf(-g[k])) * u[k];
    StoreBf16<V>(args.out + r * args.out_row_stride + c, g);
  }
}

}  // namespace

cudaError_t LaunchSiluMul(const SiluMulArgs& args, cudaStream_t stream) {
  if (args.rows < 0 || args.cols < 0) return cudaErrorInvalidValue;
  if (args.rows == 0 || args.cols == 0) return cudaSuccess;
  if (args.gate_up == nullptr || args.out == nullptr) return cudaErrorInvalidValue;
  const bool many = args.rows > 1;
  const bool vectorize =
      CanVectorizeBf16({args.gate_up, args.out}, {args.cols, many ? args.gate_up_row_stride : 0,
                                                  many ? args.out_row_stride : 0});
  if (vectorize) {
    SiluMulKernel<kBf16Vector>
        <<<GridSize(args.rows * args.cols / kBf16Vector), kThreadsPerBlock, 0, stream>>>(args);
  } else {
    SiluMulKernel<1><<<GridSize(args.rows * args.cols), kThreadsPerBlock, 0, stream>>>(args);
  }
  return cudaGetLastError();
}

}  // namespace tspserve::kernels
