// CudaBackend's K/V cache ops and attention: WriteKv, Attention (kernels/paged_attention.h),
// CombineAttention and CopyBlocks.
#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "engine/backend/cuda/cuda_backend_impl.h"
#include "engine/backend/cuda/cuda_views.h"
#include "engine/common/check.h"
#include "engine/common/cuda_check.h"
#include "kernels/attention_combine.h"
#include "kernels/copy_blocks.h"
#include "kernels/paged_attention.h"
#include "kernels/write_kv.h"

namespace tspserve {
namespace {

using cuda::CacheView;

CacheView CheckedLayer(const KvLayer& layer, const char* what) {
  const CacheView k = cuda::Cache(layer.k, what);
  const CacheView v = cuda::Cache(layer.v, what);
  CHECK(k.SameLayout(v)) << what << ": K " << layer.k.ShapeString() << " and V "
                         << layer.v.ShapeString() << " caches differ in shape or strides";
  return k;
}

// The metadata vectors (I32 on the device) in the attention kernel's form.
void FillMetadata(const AttentionMetadata& meta, int64_t num_tokens,
                  kernels::PagedAttentionParams& p) {
  CHECK_GE(meta.num_seqs, 0);
  const int64_t num_pages = meta.page_first_slot.rank() == 1 ? meta.page_first_slot.dim(0) : -1;
  CHECK_GE(num_pages, 0) << "page_first_slot must be 1-D";
  p.query_start = cuda::Vector<const int32_t>(meta.query_start, DType::kI32, meta.num_seqs + 1,
                                              "query_start");
  p.query_positions = cuda::Vector<const int32_t>(meta.query_positions, DType::kI32, num_tokens,
                                                  "query_positions");
  p.page_start = cuda::Vector<const int32_t>(meta.page_start, DType::kI32, meta.num_seqs + 1,
                                             "page_start");
  p.page_first_slot = cuda::Vector<const int32_t>(meta.page_first_slot, DType::kI32, num_pages,
                                                  "page_first_slot");
  p.page_first_position = cuda::Vector<const int32_t>(meta.page_first_position, DType::kI32,
                                                      num_pages, "page_first_position");
  p.page_num_tokens = cuda::Vector<const int32_t>(meta.page_num_tokens, DType::kI32, num_pages,
                                                  "page_num_tokens");
  p.num_seqs = meta.num_seqs;
  p.max_query_len = meta.max_query_len;
  p.max_pages = meta.max_pages;
  p.max_keys = meta.max_keys;
}

void CheckShape(const AttentionShape& shape, int64_t q_cols, const CacheView& k) {
  CHECK(shape.num_q_heads >= 0 && shape.head_dim > 0 && shape.group_size > 0 &&
        shape.q_head_offset >= 0)
      << "bad AttentionShape";
  CHECK_EQ(q_cols, int64_t{shape.num_q_heads} * shape.head_dim) << "Attention q width";
  CHECK(k.num_heads == shape.num_kv_heads && k.head_dim == shape.head_dim)
      << "Attention cache [" << k.num_heads << " heads, " << k.head_dim << "] vs shape ["
      << shape.num_kv_heads << ", " << shape.head_dim << "]";
  if (shape.num_q_heads > 0) {
    CHECK_LT((shape.q_head_offset + shape.num_q_heads - 1) / shape.group_size, shape.num_kv_heads)
        << "query heads read past the last K/V head";
  }
}

// Splits `copies` (src != dst) into runs whose pairs can be copied concurrently with the same
// result as copying them in order: within a run no block is written twice, and no block written is
// also read. Returns the end index of each run.
std::vector<size_t> IndependentRuns(const std::vector<BlockCopyOp>& copies) {
  std::vector<size_t> ends;
  std::set<int32_t> reads, writes;
  for (size_t i = 0; i < copies.size(); ++i) {
    const BlockCopyOp& op = copies[i];
    if (writes.count(op.src_block) || writes.count(op.dst_block) || reads.count(op.dst_block)) {
      ends.push_back(i);
      reads.clear();
      writes.clear();
    }
    reads.insert(op.src_block);
    writes.insert(op.dst_block);
  }
  if (!copies.empty()) ends.push_back(copies.size());
  return ends;
}

}  // namespace

void CudaBackend::WriteKv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping,
                          const KvLayer& cache, int32_t kv_head_offset) {
  const CacheView layout = CheckedLayer(cache, "WriteKv cache");
  const auto k_rows = cuda::Bf16Rows(k, "WriteKv k");
  const auto v_rows = cuda::Bf16Rows(v, "WriteKv v");
  cuda::CheckSameShape(k_rows, v_rows, "WriteKv k", "v");
  CHECK(k_rows.cols % layout.head_dim == 0 && kv_head_offset >= 0 &&
        kv_head_offset * layout.head_dim + k_rows.cols <= layout.slot_width())
      << "WriteKv k " << k.ShapeString() << " at head " << kv_head_offset << " vs cache "
      << cache.k.ShapeString();
  kernels::WriteKvArgs args;
  args.k = k_rows.data;
  args.k_row_stride = k_rows.row_stride;
  args.v = v_rows.data;
  args.v_row_stride = v_rows.row_stride;
  args.slot_mapping =
      cuda::Vector<const int64_t>(slot_mapping, DType::kI64, k_rows.rows, "slot_mapping");
  args.num_tokens = k_rows.rows;
  args.width = k_rows.cols;
  args.k_cache = layout.data;
  args.v_cache = cache.v.data_as<__nv_bfloat16>();
  args.block_size = layout.block_size;
  args.block_stride = layout.block_stride;
  args.slot_stride = layout.slot_stride;
  args.num_slots = layout.num_slots();
  args.head_offset = int64_t{kv_head_offset} * layout.head_dim;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchWriteKv(args, cuda_stream()));
}

void CudaBackend::Attention(const Tensor& q, const KvLayer& cache, const AttentionMetadata& meta,
                            const AttentionShape& shape, const Tensor& out, const Tensor& lse) {
  const auto queries = cuda::Bf16Rows(q, "Attention q");
  const auto dst = cuda::Bf16Rows(out, "Attention out");
  cuda::CheckSameShape(queries, dst, "Attention q", "out");
  const CacheView k = CheckedLayer(cache, "Attention cache");
  CheckShape(shape, queries.cols, k);
  CHECK(k.num_blocks <= 1 || k.block_stride == k.block_size * k.slot_stride)
      << "Attention needs uniformly spaced slots: cache " << cache.k.ShapeString()
      << " has block stride " << k.block_stride << " for " << k.block_size << " slots of "
      << k.slot_stride;
  kernels::PagedAttentionParams p;
  if (!lse.empty()) {
    const auto l = cuda::F32Rows(lse, "Attention lse");
    CHECK(lse.is_contiguous() && l.rows == queries.rows && l.cols == shape.num_q_heads)
        << "Attention lse " << lse.ShapeString() << " for " << queries.rows << " tokens, "
        << shape.num_q_heads << " heads";
    p.lse = l.data;
  }
  FillMetadata(meta, queries.rows, p);
  p.q = queries.data;
  p.q_row_stride = queries.row_stride;
  p.k_cache = k.data;
  p.v_cache = cache.v.data();
  p.kv_slot_stride = k.slot_stride;
  p.out = dst.data;
  p.out_row_stride = dst.row_stride;
  p.num_tokens = static_cast<int32_t>(queries.rows);
  p.num_q_heads = shape.num_q_heads;
  p.q_head_offset = shape.q_head_offset;
  p.group_size = shape.group_size;
  p.num_kv_heads = shape.num_kv_heads;
  p.head_dim = shape.head_dim;
  p.scale = shape.scale;
  p.sliding_window = shape.sliding_window;
  if (queries.rows == 0 || meta.num_seqs == 0 || shape.num_q_heads == 0) return;
  CUDA_CHECK(kernels::CheckPagedAttentionSupported(shape.head_dim));
  DeviceGuard guard(device_);
  if (EnsureWorkspace(attention_workspace_, kernels::PagedAttentionWorkspaceBytes(p), "Attention workspace")) {
    ++workspace_generation_;  // recorded steps hold its address
  }
  p.workspace = attention_workspace_.data();
  p.workspace_bytes = attention_workspace_.size();
  CUDA_CHECK(kernels::LaunchPagedAttention(p, cuda_stream()));
}

void CudaBackend::CombineAttention(const Tensor& partials, const Tensor& lse, const Tensor& out) {
  cuda::CheckDevice(partials, "CombineAttention partials");
  cuda::CheckDevice(lse, "CombineAttention lse");
  cuda::CheckDType(partials, DType::kBF16, "CombineAttention partials");
  cuda::CheckDType(lse, DType::kF32, "CombineAttention lse");
  CHECK(partials.rank() == 3 && lse.rank() == 3)
      << "partials " << partials.ShapeString() << ", lse " << lse.ShapeString();
  CHECK(partials.is_contiguous() && lse.is_contiguous());
  const int64_t sources = partials.dim(0), tokens = partials.dim(1), heads = lse.dim(2);
  CHECK(lse.dim(0) == sources && lse.dim(1) == tokens)
      << "partials " << partials.ShapeString() << ", lse " << lse.ShapeString();
  const int64_t width = partials.dim(2);
  CHECK(heads > 0 ? width % heads == 0 : width == 0)
      << "partials " << partials.ShapeString() << " vs " << heads << " heads";
  const auto o = cuda::Bf16Rows(out, "CombineAttention out");
  CHECK(o.rows == tokens && o.cols == width) << "out " << out.ShapeString();
  kernels::AttentionCombineArgs args;
  args.partials = partials.data_as<const __nv_bfloat16>();
  args.lse = lse.data_as<const float>();
  args.out = o.data;
  args.out_row_stride = o.row_stride;
  args.num_splits = static_cast<int32_t>(sources);
  args.num_tokens = tokens;
  args.num_heads = static_cast<int32_t>(heads);
  args.head_dim = heads > 0 ? static_cast<int32_t>(width / heads) : 0;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchAttentionCombine(args, cuda_stream()));
}

void CudaBackend::CopyBlocks(std::span<const KvLayer> layers, std::span<const BlockCopyOp> copies) {
  if (layers.empty() || copies.empty()) return;
  const CacheView layout = CheckedLayer(layers[0], "CopyBlocks cache");
  std::vector<void*> caches;
  uint64_t address_bits = 0;
  for (const KvLayer& layer : layers) {
    CHECK(CheckedLayer(layer, "CopyBlocks cache").SameLayout(layout))
        << "CopyBlocks needs every layer's cache in one layout";
    for (const Tensor* t : {&layer.k, &layer.v}) {
      caches.push_back(t->data());
      address_bits |= reinterpret_cast<uintptr_t>(t->data());
    }
  }
  std::vector<BlockCopyOp> ops;
  for (const BlockCopyOp& op : copies) {
    CHECK(op.src_block >= 0 && op.src_block < layout.num_blocks && op.dst_block >= 0 &&
          op.dst_block < layout.num_blocks)
        << "CopyBlocks block " << op.src_block << " -> " << op.dst_block << " outside [0, "
        << layout.num_blocks << ")";
    if (op.src_block != op.dst_block) ops.push_back(op);
  }
  if (ops.empty()) return;
  // One upload: the cache addresses, then the (src, dst) pairs.
  const size_t address_bytes = caches.size() * sizeof(void*);
  std::vector<char> staging(address_bytes + ops.size() * 2 * sizeof(int32_t));
  std::memcpy(staging.data(), caches.data(), address_bytes);
  int32_t* pairs = reinterpret_cast<int32_t*>(staging.data() + address_bytes);
  for (size_t i = 0; i < ops.size(); ++i) {
    pairs[2 * i] = ops[i].src_block;
    pairs[2 * i + 1] = ops[i].dst_block;
  }
  DeviceGuard guard(device_);
  EnsureWorkspace(copy_blocks_scratch_, staging.size(), "CopyBlocks scratch");
  char* device_scratch = static_cast<char*>(copy_blocks_scratch_.data());
  // From pageable memory the copy is staged before cudaMemcpyAsync returns, so `staging` may go.
  CUDA_CHECK(cudaMemcpyAsync(device_scratch, staging.data(), staging.size(),
                             cudaMemcpyHostToDevice, cuda_stream()));
  kernels::CopyBlocksArgs args;
  args.caches = reinterpret_cast<void* const*>(device_scratch);
  args.num_caches = static_cast<int32_t>(caches.size());
  args.block_size = layout.block_size;
  constexpr int64_t kBytes = sizeof(__nv_bfloat16);
  args.block_stride = layout.block_stride * kBytes;
  args.slot_stride = layout.slot_stride * kBytes;
  args.slot_bytes = layout.slot_width() * kBytes;
  args.base_address_bits = address_bits;
  const int32_t* device_pairs = reinterpret_cast<const int32_t*>(device_scratch + address_bytes);
  size_t begin = 0;
  for (size_t end : IndependentRuns(ops)) {
    args.pairs = device_pairs + 2 * begin;
    args.num_pairs = static_cast<int32_t>(end - begin);
    CUDA_CHECK(kernels::LaunchCopyBlocks(args, cuda_stream()));
    begin = end;
  }
}

}  // namespace tspserve
