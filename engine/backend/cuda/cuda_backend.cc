// CudaBackend's life cycle, data movement and the public factory. The ops live in cuda_ops.cc
// (point-wise and products) and cuda_kv_ops.cc (K/V cache and attention).
#include "engine/backend/cuda/cuda_backend.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/backend/cuda/cuda_backend_impl.h"
#include "engine/backend/cuda/cuda_views.h"
#include "engine/common/check.h"
#include "engine/common/cuda_check.h"
#include "engine/common/status.h"

namespace tspserve {

absl::StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(int device) {
  const int count = CudaDeviceCount();
  if (device < 0 || device >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA device ", device, " does not exist (", count, " visible)"));
  }
  DeviceGuard guard(device);
  ASSIGN_OR_RETURN(Stream stream, Stream::Create());
  ASSIGN_OR_RETURN(CublasLtHandle cublas, CublasLtHandle::Create());
  std::unique_ptr<CudaBackend> backend(
      new CudaBackend(device, std::move(stream), std::move(cublas)));
  cudaDeviceProp properties{};
  RETURN_IF_ERROR(CudaStatus(cudaGetDeviceProperties(&properties, device), "cudaGetDeviceProperties"));
  backend->name_ = absl::StrCat("cuda:", device, " ", properties.name);
  ASSIGN_OR_RETURN(backend->matmul_workspace_,
                   backend->Allocate(kMatmulWorkspaceBytes, MemoryKind::kWorkspace));
  backend->matmul_ = std::make_unique<CublasLtMatmul>(backend->cublas_.get(),
                                                      backend->matmul_workspace_.data(),
                                                      kMatmulWorkspaceBytes);
  return backend;
}

CudaBackend::CudaBackend(int device, Stream stream, CublasLtHandle cublas)
    : device_(device), allocator_(device), stream_(std::move(stream)), cublas_(std::move(cublas)) {}

CudaBackend::~CudaBackend() {
  DeviceGuard guard(device_);
  const cudaError_t error = cudaStreamSynchronize(stream_.get());
  LOG_IF(ERROR, error != cudaSuccess && error != cudaErrorCudartUnloading)
      << "CudaBackend: waiting for the stream at destruction: " << cudaGetErrorString(error);
}

void CudaBackend::CopyFromHost(const Tensor& dst, const void* host_src) {
  cuda::CheckDevice(dst, "CopyFromHost dst");
  CHECK(dst.is_contiguous()) << "CopyFromHost into a strided tensor " << dst.ShapeString();
  if (dst.nbytes() == 0) return;
  DeviceGuard guard(device_);
  CUDA_CHECK(cudaMemcpyAsync(dst.data(), host_src, dst.nbytes(), cudaMemcpyHostToDevice,
                             cuda_stream()));
  CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));  // the host buffer may die on return
}

void CudaBackend::CopyToHost(void* host_dst, const Tensor& src) {
  cuda::CheckDevice(src, "CopyToHost src");
  CHECK(src.is_contiguous()) << "CopyToHost from a strided tensor " << src.ShapeString();
  if (src.nbytes() == 0) return;
  DeviceGuard guard(device_);
  CUDA_CHECK(cudaMemcpyAsync(host_dst, src.data(), src.nbytes(), cudaMemcpyDeviceToHost,
                             cuda_stream()));
  CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
}

void CudaBackend::Synchronize() {
  DeviceGuard guard(device_);
  CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
}

Backend::MemoryInfo CudaBackend::DeviceMemory() const {
  DeviceGuard guard(device_);
  size_t free_bytes = 0, total_bytes = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return MemoryInfo{static_cast<int64_t>(free_bytes), static_cast<int64_t>(total_bytes)};
}

bool CudaBackend::EnsureWorkspace(Buffer& buffer, size_t bytes, const char* what) {
  if (buffer.size() >= bytes) return false;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(cuda_stream(), &capture));
  CHECK(capture == cudaStreamCaptureStatusNone) << what << " would grow while a step is recorded";
  CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
  buffer.Reset();
  absl::StatusOr<Buffer> grown = Allocate(bytes, MemoryKind::kWorkspace);
  CHECK(grown.ok()) << what << ": " << grown.status();
  buffer = *std::move(grown);
  return true;
}

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(int device) {
  ASSIGN_OR_RETURN(std::unique_ptr<CudaBackend> backend, CudaBackend::Create(device));
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace tspserve
