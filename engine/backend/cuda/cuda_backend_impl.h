// CudaBackend: the bf16 backend on one GPU (private to engine/backend/cuda; others use
// cuda_backend.h). Every op is enqueued on the one non-blocking stream the backend owns and returns
// without waiting; only CopyFromHost, CopyToHost and Synchronize wait for the stream. Each method
// makes the backend's device current on the calling thread first. Argument shapes are Backend's; a
// mismatch CHECK-fails, as on the CPU backend.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "engine/backend/backend.h"
#include "engine/backend/cuda/cublaslt_matmul.h"
#include "engine/backend/cuda/cuda_allocator.h"
#include "engine/backend/cuda/cuda_resources.h"

namespace tspserve {

class CudaBackend final : public Backend {
 public:
  // cuBLASLt's workspace, allocated once (MemoryKind::kWorkspace).
  static constexpr size_t kMatmulWorkspaceBytes = size_t{32} << 20;

  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create(int device);
  // Waits for the stream, then frees the backend's own buffers. Buffers handed out by Allocate()
  // must be gone by now: they refer to allocator().
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override { return name_; }  // "cuda:0 NVIDIA H200"
  Device device() const override { return Device::kCuda; }
  DType compute_dtype() const override { return DType::kBF16; }
  Allocator& allocator() override { return allocator_; }

  void CopyFromHost(const Tensor& dst, const void* host_src) override;
  void CopyToHost(void* host_dst, const Tensor& src) override;
  void Synchronize() override;
  void* stream() const override { return stream_.get(); }
  MemoryInfo DeviceMemory() const override;
  bool can_record() const override { return true; }
  void BeginRecording() override;  // cuda_recording.cc
  absl::StatusOr<std::unique_ptr<Recording>> EndRecording() override;
  uint64_t workspace_generation() const override { return workspace_generation_; }

  void Embedding(const Tensor& ids, const Tensor& table, int64_t vocab_begin,
                 const Tensor& out) override;
  void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) override;
  void AddRmsNorm(const Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                  const Tensor& out) override;
  void MatMul(const Tensor& x, const Tensor& w, const Tensor& out, bool accumulate) override;
  void AddBias(const Tensor& x, const Tensor& bias) override;
  void Add(const Tensor& a, const Tensor& b) override;
  void Rope(const Tensor& x, int32_t head_dim, const Tensor& positions,
            const Tensor& cos_sin) override;
  void SiluMul(const Tensor& gate_up, const Tensor& out) override;
  void WriteKv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, const KvLayer& cache,
               int32_t kv_head_offset) override;
  void Attention(const Tensor& q, const KvLayer& cache, const AttentionMetadata& meta,
                 const AttentionShape& shape, const Tensor& out, const Tensor& lse) override;
  void SampleRows(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& races,
                  const Tensor& temperatures, const Tensor& out) override;
  void PenalizeLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                      const Tensor& entries, const Tensor& penalties) override;
  void TopCandidates(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                     const Tensor& out) override;
  void KeyHistogram(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                    const Tensor& queries, const Tensor& scales, const Tensor& out) override;
  void MaskLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                  const Tensor& thresholds) override;
  void Copy(const Tensor& dst, const Tensor& src) override;
  void CombineAttention(const Tensor& partials, const Tensor& lse, const Tensor& out) override;
  void GatherRows(const Tensor& x, const Tensor& rows, const Tensor& out) override;
  void FillRandom(const Tensor& t, uint64_t seed, float scale) override;
  void CopyBlocks(std::span<const KvLayer> layers, std::span<const BlockCopyOp> copies) override;

 private:
  CudaBackend(int device, Stream stream, CublasLtHandle cublas);

  cudaStream_t cuda_stream() const { return stream_.get(); }
  // Makes `buffer` (kWorkspace) hold at least `bytes`; true when it grew. Growing waits for the
  // stream first, since work already enqueued may still read the old buffer; it happens rarely
  // (sizes only grow), and never while the stream is being recorded.
  bool EnsureWorkspace(Buffer& buffer, size_t bytes, const char* what);

  const int device_;
  std::string name_;
  CudaAllocator allocator_;  // before every Buffer below, so it outlives them
  Stream stream_;
  CublasLtHandle cublas_;
  Buffer matmul_workspace_;
  std::unique_ptr<CublasLtMatmul> matmul_;
  Buffer attention_workspace_;
  uint64_t workspace_generation_ = 0;  // reallocations of the attention workspace
  Buffer histogram_workspace_;         // KeyHistogram's partial histograms (the LM head: never recorded)
  Buffer copy_blocks_scratch_;  // CopyBlocks' uploaded cache addresses and block pairs
};

}  // namespace tspserve
