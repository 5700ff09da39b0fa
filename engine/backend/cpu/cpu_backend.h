// CpuBackend: the fp32 reference backend. Every op runs synchronously on the calling thread (plus
// OpenBLAS's threads inside MatMul); memory comes from a HostAllocator the backend owns. Argument
// shapes are those of Backend; a mismatch is a programming error and CHECK-fails.
#pragma once

#include <span>
#include <string>

#include "engine/backend/backend.h"

namespace tspserve {

class CpuBackend final : public Backend {
 public:
  CpuBackend() = default;
  CpuBackend(const CpuBackend&) = delete;
  CpuBackend& operator=(const CpuBackend&) = delete;

  std::string name() const override { return "cpu"; }
  Device device() const override { return Device::kCpu; }
  DType compute_dtype() const override { return DType::kF32; }
  Allocator& allocator() override { return allocator_; }

  void CopyFromHost(const Tensor& dst, const void* host_src) override;
  void CopyToHost(void* host_dst, const Tensor& src) override;
  void Synchronize() override {}

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
  void PenalizeLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& entries,
                      const Tensor& penalties) override;
  void TopCandidates(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                     const Tensor& out) override;
  void KeyHistogram(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& queries,
                    const Tensor& scales, const Tensor& out) override;
  void MaskLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& thresholds) override;
  void Copy(const Tensor& dst, const Tensor& src) override;
  void CombineAttention(const Tensor& partials, const Tensor& lse, const Tensor& out) override;
  void GatherRows(const Tensor& x, const Tensor& rows, const Tensor& out) override;
  void FillRandom(const Tensor& t, uint64_t seed, float scale) override;
  void CopyBlocks(std::span<const KvLayer> layers, std::span<const BlockCopyOp> copies) override;

 private:
  HostAllocator allocator_;
};

}  // namespace tspserve
