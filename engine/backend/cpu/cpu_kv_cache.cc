#include "engine/backend/cpu/cpu_kv_cache.h"

#include <algorithm>
#include <cstdint>

#include "engine/backend/cpu/cpu_views.h"

namespace tspserve::cpu {
namespace {

void CheckSameLayout(const CacheView& k, const CacheView& v) {
  CHECK(k.num_blocks == v.num_blocks && k.block_size == v.block_size &&
        k.num_heads == v.num_heads && k.head_dim == v.head_dim)
      << "K and V caches differ in shape";
}

// Copies one token's `width` values into its slot, starting at head `head`.
void WriteSlot(const float* row, int64_t width, const CacheView& cache, int64_t slot,
               int64_t head) {
  std::copy_n(row, width, cache.head(slot / cache.block_size, slot % cache.block_size, head));
}

void CopyBlock(const CacheView& cache, int32_t src, int32_t dst) {
  CHECK(src >= 0 && src < cache.num_blocks && dst >= 0 && dst < cache.num_blocks)
      << "CopyBlocks block " << src << " -> " << dst << " outside [0, " << cache.num_blocks << ")";
  if (src == dst) return;
  for (int64_t i = 0; i < cache.block_size; ++i) {
    std::copy_n(cache.slot(src, i), cache.slot_width(), cache.slot(dst, i));
  }
}

}  // namespace

void WriteKv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, const KvLayer& cache,
             int32_t kv_head_offset) {
  const CacheView k_cache = Cache(cache.k, "WriteKv k cache");
  const CacheView v_cache = Cache(cache.v, "WriteKv v cache");
  CheckSameLayout(k_cache, v_cache);
  const RowView<float> k_rows = F32Rows(k, "WriteKv k");
  const RowView<float> v_rows = F32Rows(v, "WriteKv v");
  CheckSameShape(k_rows, v_rows, "WriteKv k", "v");
  CHECK(k_rows.cols % k_cache.head_dim == 0 && kv_head_offset >= 0 &&
        kv_head_offset * k_cache.head_dim + k_rows.cols <= k_cache.slot_width())
      << "WriteKv k " << k.ShapeString() << " at head " << kv_head_offset << " vs cache "
      << cache.k.ShapeString();
  const int64_t* slots = Vector<int64_t>(slot_mapping, DType::kI64, k_rows.rows, "slot_mapping");
  for (int64_t t = 0; t < k_rows.rows; ++t) {
    if (slots[t] < 0) continue;
    CHECK_LT(slots[t], k_cache.num_slots()) << "WriteKv slot of token " << t;
    WriteSlot(k_rows.row(t), k_rows.cols, k_cache, slots[t], kv_head_offset);
    WriteSlot(v_rows.row(t), v_rows.cols, v_cache, slots[t], kv_head_offset);
  }
}

void CopyBlocks(std::span<const KvLayer> layers, std::span<const BlockCopyOp> copies) {
  for (const KvLayer& layer : layers) {
    const CacheView k_cache = Cache(layer.k, "CopyBlocks k cache");
    const CacheView v_cache = Cache(layer.v, "CopyBlocks v cache");
    CheckSameLayout(k_cache, v_cache);
    for (const BlockCopyOp& op : copies) {
      CopyBlock(k_cache, op.src_block, op.dst_block);
      CopyBlock(v_cache, op.src_block, op.dst_block);
    }
  }
}

}  // namespace tspserve::cpu
