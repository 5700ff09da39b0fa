// CudaBackend's point-wise ops, row moves and the matrix product: argument checks, then one
// kernels/ launch on the backend's stream.
#include "engine/backend/cuda/cuda_backend_impl.h"

#include <string>

#include "engine/backend/cuda/cuda_views.h"
#include "engine/common/check.h"
#include "engine/common/cuda_check.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/fill_random.h"
#include "kernels/matmul_fallback.h"
#include "kernels/nucleus.h"
#include "kernels/penalize_logits.h"
#include "kernels/rms_norm.h"
#include "kernels/rope.h"
#include "kernels/sample_rows.h"
#include "kernels/silu_mul.h"
#include "kernels/top_candidates.h"

namespace tspserve {

using cuda::Bf16Rows;
using cuda::CheckSameShape;

void CudaBackend::Embedding(const Tensor& ids, const Tensor& table, int64_t vocab_begin,
                            const Tensor& out) {
  const auto src = Bf16Rows(table, "Embedding table");
  const auto dst = Bf16Rows(out, "Embedding out");
  CHECK_EQ(src.cols, dst.cols) << "Embedding table " << table.ShapeString() << " vs out "
                               << out.ShapeString();
  kernels::EmbeddingArgs args;
  args.ids = cuda::Vector<const int32_t>(ids, DType::kI32, dst.rows, "Embedding ids");
  args.num_tokens = dst.rows;
  args.table = src.data;
  args.table_row_stride = src.row_stride;
  args.vocab_rows = src.rows;
  args.vocab_begin = vocab_begin;
  args.out = dst.data;
  args.out_row_stride = dst.row_stride;
  args.hidden = dst.cols;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchEmbedding(args, cuda_stream()));
}

void CudaBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) {
  const auto in = Bf16Rows(x, "RmsNorm x");
  const auto dst = Bf16Rows(out, "RmsNorm out");
  CheckSameShape(in, dst, "RmsNorm x", "out");
  kernels::RmsNormArgs args;
  args.weight = cuda::Vector<const __nv_bfloat16>(weight, DType::kBF16, -1, "RmsNorm weight");
  args.group = weight.dim(0);
  CHECK(args.group > 0 && in.cols % args.group == 0)
      << "RmsNorm x " << x.ShapeString() << " is not a whole number of groups of " << args.group;
  args.x = in.data;
  args.x_row_stride = in.row_stride;
  args.out = dst.data;
  args.out_row_stride = dst.row_stride;
  args.rows = in.rows;
  args.cols = in.cols;
  args.eps = eps;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchRmsNorm(args, cuda_stream()));
}

void CudaBackend::AddRmsNorm(const Tensor& residual, const Tensor& x, const Tensor& weight,
                             float eps, const Tensor& out) {
  const auto res = Bf16Rows(residual, "AddRmsNorm residual");
  const auto in = Bf16Rows(x, "AddRmsNorm x");
  const auto dst = Bf16Rows(out, "AddRmsNorm out");
  CheckSameShape(res, in, "AddRmsNorm residual", "x");
  CheckSameShape(res, dst, "AddRmsNorm residual", "out");
  CHECK(res.rows == 0 || residual.data() != out.data()) << "AddRmsNorm out aliases residual";
  kernels::AddRmsNormArgs args;
  args.weight = cuda::Vector<const __nv_bfloat16>(weight, DType::kBF16, res.cols,
                                                  "AddRmsNorm weight");
  args.residual = res.data;
  args.residual_row_stride = res.row_stride;
  args.x = in.data;
  args.x_row_stride = in.row_stride;
  args.out = dst.data;
  args.out_row_stride = dst.row_stride;
  args.rows = res.rows;
  args.cols = res.cols;
  args.eps = eps;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchAddRmsNorm(args, cuda_stream()));
}

void CudaBackend::MatMul(const Tensor& x, const Tensor& w, const Tensor& out, bool accumulate) {
  const auto a = Bf16Rows(x, "MatMul x");
  const auto b = Bf16Rows(w, "MatMul w");
  const bool out_f32 = out.dtype() == DType::kF32;  // logits: bf16 products, fp32 result
  const auto c = out_f32 ? cuda::Rows(out, "MatMul out") : [&] {
    const auto m = Bf16Rows(out, "MatMul out");
    return cuda::AnyMatrix{m.data, m.rows, m.cols, m.row_stride, 2};
  }();
  CHECK_EQ(a.cols, b.cols) << "MatMul x " << x.ShapeString() << " vs w " << w.ShapeString();
  CHECK(c.rows == a.rows && c.cols == b.rows) << "MatMul out " << out.ShapeString() << " for x "
                                              << x.ShapeString() << ", w " << w.ShapeString();
  kernels::MatMulArgs args;
  args.x = a.data;
  args.x_row_stride = a.row_stride;
  args.w = b.data;
  args.w_row_stride = b.row_stride;
  args.out = c.data;
  args.out_f32 = out_f32;
  args.out_row_stride = c.row_stride;
  args.m = a.rows;
  args.n = b.rows;
  args.k = a.cols;
  args.accumulate = accumulate;
  DeviceGuard guard(device_);
  matmul_->Run(args, cuda_stream());
}

void CudaBackend::AddBias(const Tensor& x, const Tensor& bias) {
  const auto dst = Bf16Rows(x, "AddBias x");
  kernels::AddBiasArgs args;
  args.x = dst.data;
  args.x_row_stride = dst.row_stride;
  args.bias = cuda::Vector<const __nv_bfloat16>(bias, DType::kBF16, dst.cols, "AddBias bias");
  args.rows = dst.rows;
  args.cols = dst.cols;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchAddBias(args, cuda_stream()));
}

void CudaBackend::Add(const Tensor& a, const Tensor& b) {
  const auto dst = Bf16Rows(a, "Add a");
  const auto src = Bf16Rows(b, "Add b");
  CheckSameShape(dst, src, "Add a", "b");
  kernels::AddArgs args;
  args.a = dst.data;
  args.a_row_stride = dst.row_stride;
  args.b = src.data;
  args.b_row_stride = src.row_stride;
  args.rows = dst.rows;
  args.cols = dst.cols;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchAdd(args, cuda_stream()));
}

void CudaBackend::Rope(const Tensor& x, int32_t head_dim, const Tensor& positions,
                       const Tensor& cos_sin) {
  const auto rows = Bf16Rows(x, "Rope x");
  const auto table = cuda::F32Rows(cos_sin, "Rope cos_sin");
  CHECK(head_dim > 0 && head_dim % 2 == 0) << "Rope head_dim " << head_dim;
  CHECK_EQ(rows.cols % head_dim, 0) << "Rope x " << x.ShapeString() << " head_dim " << head_dim;
  CHECK_EQ(table.cols, head_dim) << "Rope cos_sin " << cos_sin.ShapeString();
  kernels::RopeArgs args;
  args.x = rows.data;
  args.x_row_stride = rows.row_stride;
  args.num_tokens = rows.rows;
  args.width = rows.cols;
  args.head_dim = head_dim;
  args.positions = cuda::Vector<const int32_t>(positions, DType::kI32, rows.rows, "Rope positions");
  args.cos_sin = table.data;
  args.table_row_stride = table.row_stride;
  args.max_positions = table.rows;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchRope(args, cuda_stream()));
}

namespace {

// CHECKs that t is a contiguous [rows, cols] matrix of dtype on this device (rows < 0: any).
void CheckContiguousMatrix(const Tensor& t, DType dtype, int64_t rows, int64_t cols, const char* name) {
  cuda::CheckDevice(t, name);
  cuda::CheckDType(t, dtype, name);
  CHECK(t.rank() == 2 && (rows < 0 || t.dim(0) == rows) && t.dim(1) == cols && t.is_contiguous())
      << name << " must be contiguous [" << (rows < 0 ? std::string("any") : std::to_string(rows)) << ", " << cols
      << "], got " << t.ShapeString();
}

// The fp32 logits of one vocabulary shard, checked, into the fields every sampling kernel's
// arguments share (logits, row_stride, rows, valid_cols, id_offset).
template <class Args>
void SetShardLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const char* name, Args& args) {
  const auto in = cuda::F32Rows(logits, name);
  CHECK(valid_cols >= 0 && valid_cols <= in.cols) << name << " valid_cols " << valid_cols;
  args.logits = in.data;
  args.row_stride = in.row_stride;
  args.rows = in.rows;
  args.valid_cols = valid_cols;
  args.id_offset = id_offset;
}

}  // namespace

void CudaBackend::SampleRows(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                             const Tensor& races, const Tensor& temperatures, const Tensor& out) {
  kernels::SampleRowsArgs args;
  SetShardLogits(logits, valid_cols, id_offset, "SampleRows logits", args);
  const auto result = cuda::F32Rows(out, "SampleRows out");
  CHECK(result.rows == args.rows && result.cols == 4 && (result.rows <= 1 || result.row_stride == 4))
      << "SampleRows out must be contiguous [rows, 4], got " << out.ShapeString();
  CheckContiguousMatrix(races, DType::kI64, args.rows, 2, "SampleRows races");
  args.races = races.data_as<const int64_t>();
  args.temperatures = cuda::Vector<const float>(temperatures, DType::kF32, args.rows,
                                                "SampleRows temperatures");
  args.out = result.data;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchSampleRows(args, cuda_stream()));
}

void CudaBackend::PenalizeLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                                 const Tensor& entries, const Tensor& penalties) {
  kernels::PenalizeLogitsArgs args;
  SetShardLogits(logits, valid_cols, id_offset, "PenalizeLogits logits", args);
  CheckContiguousMatrix(entries, DType::kI32, /*rows=*/-1, 3, "PenalizeLogits entries");
  CheckContiguousMatrix(penalties, DType::kF32, args.rows, 3, "PenalizeLogits penalties");
  if (entries.dim(0) == 0) return;  // an empty entries tensor may have no data
  args.entries = entries.data_as<const int32_t>();
  args.num_entries = entries.dim(0);
  args.penalties = penalties.data_as<const float>();
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchPenalizeLogits(args, cuda_stream()));
}

void CudaBackend::TopCandidates(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                                const Tensor& out) {
  kernels::TopCandidatesArgs args;
  SetShardLogits(logits, valid_cols, id_offset, "TopCandidates logits", args);
  const auto result = cuda::F32Rows(out, "TopCandidates out");
  CHECK(result.rows == args.rows && result.cols % 2 == 0 &&
        (result.rows <= 1 || result.row_stride == result.cols))
      << "TopCandidates out must be contiguous [rows, 2k], got " << out.ShapeString();
  args.k = result.cols / 2;
  CHECK_LE(args.k, kernels::kMaxTopCandidates) << "TopCandidates k";
  args.out = result.data;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchTopCandidates(args, cuda_stream()));
}

void CudaBackend::KeyHistogram(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                               const Tensor& queries, const Tensor& scales, const Tensor& out) {
  kernels::KeyHistogramArgs args;
  SetShardLogits(logits, valid_cols, id_offset, "KeyHistogram logits", args);
  CheckContiguousMatrix(queries, DType::kI64, args.rows, 2, "KeyHistogram queries");
  CheckContiguousMatrix(scales, DType::kF32, args.rows, 2, "KeyHistogram scales");
  CheckContiguousMatrix(out, DType::kF32, args.rows, kernels::kKeyHistogramWidth, "KeyHistogram out");
  if (args.rows == 0) return;
  args.queries = queries.data_as<const int64_t>();
  args.scales = scales.data_as<const float>();
  args.out = out.data_as<float>();
  DeviceGuard guard(device_);
  EnsureWorkspace(histogram_workspace_, kernels::KeyHistogramWorkspaceBytes(args.rows, valid_cols),
                  "KeyHistogram workspace");
  args.workspace = histogram_workspace_.data();
  CUDA_CHECK(kernels::LaunchKeyHistogram(args, cuda_stream()));
}

void CudaBackend::MaskLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                             const Tensor& thresholds) {
  kernels::MaskLogitsArgs args;
  SetShardLogits(logits, valid_cols, id_offset, "MaskLogits logits", args);
  args.thresholds = cuda::Vector<const int64_t>(thresholds, DType::kI64, args.rows, "MaskLogits thresholds");
  if (args.rows == 0 || valid_cols == 0) return;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchMaskLogits(args, cuda_stream()));
}

void CudaBackend::SiluMul(const Tensor& gate_up, const Tensor& out) {
  const auto src = Bf16Rows(gate_up, "SiluMul gate_up");
  const auto dst = Bf16Rows(out, "SiluMul out");
  CHECK(src.rows == dst.rows && src.cols == 2 * dst.cols)
      << "SiluMul gate_up " << gate_up.ShapeString() << " vs out " << out.ShapeString();
  kernels::SiluMulArgs args;
  args.gate_up = src.data;
  args.gate_up_row_stride = src.row_stride;
  args.out = dst.data;
  args.out_row_stride = dst.row_stride;
  args.rows = dst.rows;
  args.cols = dst.cols;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchSiluMul(args, cuda_stream()));
}

void CudaBackend::Copy(const Tensor& dst, const Tensor& src) {
  const cuda::AnyMatrix d = cuda::Rows(dst, "Copy dst");
  const cuda::AnyMatrix s = cuda::Rows(src, "Copy src");
  CHECK(dst.dtype() == src.dtype()) << "Copy " << DTypeName(src.dtype()) << " into "
                                    << DTypeName(dst.dtype());
  CHECK(d.rows == s.rows && d.cols == s.cols)
      << "Copy " << src.ShapeString() << " into " << dst.ShapeString();
  kernels::CopyRowsArgs args;
  args.dst = d.data;
  args.dst_pitch = d.row_stride * d.element_bytes;
  args.src = s.data;
  args.src_pitch = s.row_stride * s.element_bytes;
  args.rows = d.rows;
  args.row_bytes = d.cols * d.element_bytes;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchCopyRows(args, cuda_stream()));
}

void CudaBackend::GatherRows(const Tensor& x, const Tensor& rows, const Tensor& out) {
  const cuda::AnyMatrix src = cuda::Rows(x, "GatherRows x");
  const cuda::AnyMatrix dst = cuda::Rows(out, "GatherRows out");
  CHECK(x.dtype() == out.dtype()) << "GatherRows " << DTypeName(x.dtype()) << " into "
                                  << DTypeName(out.dtype());
  CHECK_EQ(src.cols, dst.cols) << "GatherRows x " << x.ShapeString() << " vs out "
                               << out.ShapeString();
  kernels::GatherRowsArgs args;
  args.dst = dst.data;
  args.dst_pitch = dst.row_stride * dst.element_bytes;
  args.src = src.data;
  args.src_pitch = src.row_stride * src.element_bytes;
  args.src_rows = src.rows;
  args.index = cuda::Vector<const int32_t>(rows, DType::kI32, dst.rows, "GatherRows rows");
  args.rows = dst.rows;
  args.row_bytes = dst.cols * dst.element_bytes;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchGatherRows(args, cuda_stream()));
}

void CudaBackend::FillRandom(const Tensor& t, uint64_t seed, float scale) {
  cuda::CheckDevice(t, "FillRandom");
  CHECK(t.is_contiguous()) << "FillRandom needs a contiguous tensor, got " << t.ShapeString();
  CHECK(t.dtype() == DType::kBF16 || t.dtype() == DType::kF32)
      << "FillRandom writes BF16 or F32, not " << DTypeName(t.dtype());
  kernels::FillRandomArgs args;
  args.data = t.data();
  args.numel = t.numel();
  args.type = t.dtype() == DType::kF32 ? kernels::FillRandomType::kF32
                                       : kernels::FillRandomType::kBF16;
  args.seed = seed;
  args.scale = scale;
  DeviceGuard guard(device_);
  CUDA_CHECK(kernels::LaunchFillRandom(args, cuda_stream()));
}

}  // namespace tspserve
