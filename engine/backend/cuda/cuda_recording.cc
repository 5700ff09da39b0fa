// CudaBackend's recordings: stream capture into a CUDA graph, instantiated once and launched by
// Replay(). Capture is thread-local, so each rank's thread records its own stream while the others
// record theirs; NCCL collectives issued on a communicator stream that waits on the captured
// stream join the capture.
#include "engine/backend/cuda/cuda_backend_impl.h"

#include "absl/strings/str_cat.h"
#include "engine/common/check.h"
#include "engine/common/cuda_check.h"

namespace tspserve {
namespace {

class CudaRecording final : public Backend::Recording {
 public:
  CudaRecording(int device, cudaStream_t stream, cudaGraph_t graph, cudaGraphExec_t exec)
      : device_(device), stream_(stream), graph_(graph), exec_(exec) {}
  ~CudaRecording() override {
    DeviceGuard guard(device_);
    LogIfCudaError(cudaGraphExecDestroy(exec_), "cudaGraphExecDestroy");
    LogIfCudaError(cudaGraphDestroy(graph_), "cudaGraphDestroy");
  }
  CudaRecording(const CudaRecording&) = delete;
  CudaRecording& operator=(const CudaRecording&) = delete;

  void Replay() override {
    DeviceGuard guard(device_);
    CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
  }

 private:
  const int device_;
  const cudaStream_t stream_;  // the backend's, which outlives its recordings
  cudaGraph_t graph_;
  cudaGraphExec_t exec_;
};

}  // namespace

void CudaBackend::BeginRecording() {
  DeviceGuard guard(device_);
  CUDA_CHECK(cudaStreamBeginCapture(cuda_stream(), cudaStreamCaptureModeThreadLocal));
}

absl::StatusOr<std::unique_ptr<Backend::Recording>> CudaBackend::EndRecording() {
  DeviceGuard guard(device_);
  cudaGraph_t graph = nullptr;
  const cudaError_t captured = cudaStreamEndCapture(cuda_stream(), &graph);
  if (captured != cudaSuccess) {
    if (graph != nullptr) LogIfCudaError(cudaGraphDestroy(graph), "cudaGraphDestroy");
    (void)cudaGetLastError();  // an invalidated capture leaves a sticky-free error to clear
    return CudaStatus(captured, "cudaStreamEndCapture");
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
  if (instantiated != cudaSuccess) {
    LogIfCudaError(cudaGraphDestroy(graph), "cudaGraphDestroy");
    return CudaStatus(instantiated, "cudaGraphInstantiate");
  }
  return std::make_unique<CudaRecording>(device_, cuda_stream(), graph, exec);
}

}  // namespace tspserve
