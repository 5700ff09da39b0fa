#include "engine/backend/cpu/cpu_gather.h"

#include <algorithm>

#include "engine/backend/cpu/cpu_views.h"

namespace tspserve::cpu {

void Embedding(const Tensor& ids, const Tensor& table, int64_t vocab_begin, const Tensor& out) {
  const RowView<float> src = F32Rows(table, "Embedding table");
  const RowView<float> dst = F32Rows(out, "Embedding out");
  CHECK_EQ(src.cols, dst.cols) << "Embedding table " << table.ShapeString() << " vs out "
                               << out.ShapeString();
  const int32_t* id = I32Vector(ids, dst.rows, "Embedding ids");
  for (int64_t t = 0; t < dst.rows; ++t) {
    const int64_t row = static_cast<int64_t>(id[t]) - vocab_begin;
    if (row >= 0 && row < src.rows) {
      std::copy_n(src.row(row), dst.cols, dst.row(t));
    } else {
      std::fill_n(dst.row(t), dst.cols, 0.0f);
    }
  }
}

void GatherRows(const Tensor& x, const Tensor& rows, const Tensor& out) {
  const RowView<float> src = F32Rows(x, "GatherRows x");
  const RowView<float> dst = F32Rows(out, "GatherRows out");
  CHECK_EQ(src.cols, dst.cols) << "GatherRows x " << x.ShapeString() << " vs out "
                               << out.ShapeString();
  const int32_t* index = I32Vector(rows, dst.rows, "GatherRows rows");
  for (int64_t i = 0; i < dst.rows; ++i) {
    CHECK(index[i] >= 0 && index[i] < src.rows)
        << "GatherRows row " << index[i] << " outside [0, " << src.rows << ")";
    std::copy_n(src.row(index[i]), dst.cols, dst.row(i));
  }
}

}  // namespace tspserve::cpu

namespace tspserve::cpu {

void Copy(const Tensor& dst, const Tensor& src) {
  const RowView<float> d = F32Rows(dst, "dst");
  const RowView<const float> s = Rows<const float>(src, DType::kF32, "src");
  CHECK(d.rows == s.rows && d.cols == s.cols)
      << "Copy " << src.ShapeString() << " into " << dst.ShapeString();
  for (int64_t r = 0; r < d.rows; ++r) std::copy_n(s.row(r), d.cols, d.row(r));
}

}  // namespace tspserve::cpu
