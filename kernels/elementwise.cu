#include "kernels/elementwise.h"

#include "kernels/launch_utils.cuh"
#include "kernels/row_gather.cuh"

namespace tspserve::kernels {
namespace {

// One thread per V consecutive columns of one row.
template <int V>
__global__ void AddKernel(AddArgs args) {
  const int64_t vectors_per_row = args.cols / V;
  const int64_t total = args.rows * vectors_per_row;
  for (int64_t i = GlobalThreadIndex(); i < total; i += GlobalThreadCount()) {
    const int64_t r = i / vectors_per_row;
    const int64_t c = (i - r * vectors_per_row) * V;
    __nv_bfloat16* a = args.a + r * args.a_row_stride + c;
    float x[V], y[V];
    LoadBf16<V>(a, x);
    LoadBf16<V>(args.b + r * args.b_row_stride + c, y);
#pragma unroll
    for (int k = 0; k < V; ++k) x[k] += y[k];
    StoreBf16<V>(a, x);
  }
}

template <int V>
__global__ void AddBiasKernel(AddBiasArgs args) {
  const int64_t vectors_per_row = args.cols / V;
  const int64_t total = args.rows * vectors_per_row;
  for (int64_t i = GlobalThreadIndex(); i < total; i += GlobalThreadCount()) {
    const int64_t r = i / vectors_per_row;
    const int64_t c = (i - r * vectors_per_row) * V;
    __nv_bfloat16* x = args.x + r * args.x_row_stride + c;
    float v[V], b[V];
    LoadBf16<V>(x, v);
    LoadBf16<V>(args.bias + c, b);
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] += b[k];
    StoreBf16<V>(x, v);
  }
}

// A single row's stride is never used; 0 keeps it out of the alignment test.
int64_t UsedStride(int64_t rows, int64_t stride) { return rows > 1 ? stride : 0; }

}  // namespace

cudaError_t LaunchAdd(const AddArgs& args, cudaStream_t stream) {
  if (args.rows < 0 || args.cols < 0) return cudaErrorInvalidValue;
  if (args.rows == 0 || args.cols == 0) return cudaSuccess;
  if (args.a == nullptr || args.b == nullptr) return cudaErrorInvalidValue;
  const bool vectorize =
      CanVectorizeBf16({args.a, args.b}, {args.cols, UsedStride(args.rows, args.a_row_stride),
                                          UsedStride(args.rows, args.b_row_stride)});
  if (vectorize) {
    AddKernel<kBf16Vector>
        <<<GridSize(args.rows * args.cols / kBf16Vector), kThreadsPerBlock, 0, stream>>>(args);
  } else {
    AddKernel<1><<<GridSize(args.rows * args.cols), kThreadsPerBlock, 0, stream>>>(args);
  }
  return cudaGetLastError();
}

cudaError_t LaunchAddBias(const AddBiasArgs& args, cudaStream_t stream) {
  if (args.rows < 0 || args.cols < 0) return cudaErrorInvalidValue;
  if (args.rows == 0 || args.cols == 0) return cudaSuccess;
  if (args.x == nullptr || args.bias == nullptr) return cudaErrorInvalidValue;
  const bool vectorize = CanVectorizeBf16(
      {args.x, args.bias}, {args.cols, UsedStride(args.rows, args.x_row_stride)});
  if (vectorize) {
    AddBiasKernel<kBf16Vector>
        <<<GridSize(args.rows * args.cols / kBf16Vector), kThreadsPerBlock, 0, stream>>>(args);
  } else {
    AddBiasKernel<1><<<GridSize(args.rows * args.cols), kThreadsPerBlock, 0, stream>>>(args);
  }
  return cudaGetLastError();
}

cudaError_t LaunchCopyRows(const CopyRowsArgs& args, cudaStream_t stream) {
  RowGather g;
  g.dst = args.dst;
  g.dst_pitch = args.dst_pitch;
  g.src = args.src;
  g.src_pitch = args.src_pitch;
  g.src_rows = args.rows;
  g.rows = args.rows;
  g.row_bytes = args.row_bytes;
  return LaunchRowGather(g, stream);
}

cudaError_t LaunchGatherRows(const GatherRowsArgs& args, cudaStream_t stream) {
  if (args.rows > 0 && args.index == nullptr) return cudaErrorInvalidValue;
  RowGather g;
  g.dst = args.dst;
  g.dst_pitch = args.dst_pitch;
  g.src = args.src;
  g.src_pitch = args.src_pitch;
  g.src_rows = args.src_rows;
  g.index = args.index;
  g.rows = args.rows;
  g.row_bytes = args.row_bytes;
  return LaunchRowGather(g, stream);
}

}  // namespace tspserve::kernels
