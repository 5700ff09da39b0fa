#include "engine/backend/cpu/cpu_backend.h"

#include <cstring>
#include <memory>

#include "engine/backend/cpu/cpu_attention.h"
#include "engine/backend/cpu/cpu_attention_combine.h"
#include "engine/backend/cpu/cpu_gather.h"
#include "engine/backend/cpu/cpu_kv_cache.h"
#include "engine/backend/cpu/cpu_matmul.h"
#include "engine/backend/cpu/cpu_norm.h"
#include "engine/backend/cpu/cpu_pointwise.h"
#include "engine/backend/cpu/cpu_rope.h"
#include "engine/backend/cpu/cpu_sampling.h"
#include "engine/backend/cpu/cpu_views.h"

namespace tspserve {

void CpuBackend::CopyFromHost(const Tensor& dst, const void* host_src) {
  cpu::CheckCpu(dst, "CopyFromHost dst");
  CHECK(dst.is_contiguous()) << "CopyFromHost into a strided tensor " << dst.ShapeString();
  if (dst.nbytes() > 0) std::memcpy(dst.data(), host_src, dst.nbytes());
}

void CpuBackend::CopyToHost(void* host_dst, const Tensor& src) {
  cpu::CheckCpu(src, "CopyToHost src");
  CHECK(src.is_contiguous()) << "CopyToHost from a strided tensor " << src.ShapeString();
  if (src.nbytes() > 0) std::memcpy(host_dst, src.data(), src.nbytes());
}

void CpuBackend::Embedding(const Tensor& ids, const Tensor& table, int64_t vocab_begin,
                           const Tensor& out) {
  cpu::Embedding(ids, table, vocab_begin, out);
}

void CpuBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) {
  cpu::RmsNorm(x, weight, eps, out);
}

void CpuBackend::AddRmsNorm(const Tensor& residual, const Tensor& x, const Tensor& weight,
                            float eps, const Tensor& out) {
  cpu::AddRmsNorm(residual, x, weight, eps, out);
}

void CpuBackend::MatMul(const Tensor& x, const Tensor& w, const Tensor& out, bool accumulate) {
  cpu::MatMul(x, w, out, accumulate);
}

void CpuBackend::AddBias(const Tensor& x, const Tensor& bias) { cpu::AddBias(x, bias); }

void CpuBackend::Add(const Tensor& a, const Tensor& b) { cpu::Add(a, b); }

void CpuBackend::Rope(const Tensor& x, int32_t head_dim, const Tensor& positions,
                      const Tensor& cos_sin) {
  cpu::Rope(x, head_dim, positions, cos_sin);
}

void CpuBackend::SiluMul(const Tensor& gate_up, const Tensor& out) { cpu::SiluMul(gate_up, out); }

void CpuBackend::WriteKv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping,
                         const KvLayer& cache, int32_t kv_head_offset) {
  cpu::WriteKv(k, v, slot_mapping, cache, kv_head_offset);
}

void CpuBackend::Attention(const Tensor& q, const KvLayer& cache, const AttentionMetadata& meta,
                           const AttentionShape& shape, const Tensor& out, const Tensor& lse) {
  cpu::Attention(q, cache, meta, shape, out, lse);
}

void CpuBackend::SampleRows(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                            const Tensor& races, const Tensor& temperatures, const Tensor& out) {
  cpu::SampleRows(logits, valid_cols, id_offset, races, temperatures, out);
}

void CpuBackend::PenalizeLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                                const Tensor& entries, const Tensor& penalties) {
  cpu::PenalizeLogits(logits, valid_cols, id_offset, entries, penalties);
}

void CpuBackend::TopCandidates(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                               const Tensor& out) {
  cpu::TopCandidates(logits, valid_cols, id_offset, out);
}

void CpuBackend::KeyHistogram(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                              const Tensor& queries, const Tensor& scales, const Tensor& out) {
  cpu::KeyHistogram(logits, valid_cols, id_offset, queries, scales, out);
}

void CpuBackend::MaskLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                            const Tensor& thresholds) {
  cpu::MaskLogits(logits, valid_cols, id_offset, thresholds);
}

void CpuBackend::Copy(const Tensor& dst, const Tensor& src) { cpu::Copy(dst, src); }

void CpuBackend::CombineAttention(const Tensor& partials, const Tensor& lse, const Tensor& out) {
  cpu::CombineAttention(partials, lse, out);
}

void CpuBackend::GatherRows(const Tensor& x, const Tensor& rows, const Tensor& out) {
  cpu::GatherRows(x, rows, out);
}

void CpuBackend::FillRandom(const Tensor& t, uint64_t seed, float scale) {
  cpu::FillRandom(t, seed, scale);
}

void CpuBackend::CopyBlocks(std::span<const KvLayer> layers, std::span<const BlockCopyOp> copies) {
  cpu::CopyBlocks(layers, copies);
}

std::unique_ptr<Backend> MakeCpuBackend() { return std::make_unique<CpuBackend>(); }

}  // namespace tspserve
