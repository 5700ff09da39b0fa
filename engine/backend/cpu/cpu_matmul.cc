#include "engine/backend/cpu/cpu_matmul.h"

#include <cblas.h>

#include <algorithm>
#include <cstdint>

#include "engine/backend/cpu/cpu_views.h"

namespace tspserve::cpu {
namespace {

// BLAS wants a leading dimension of at least max(1, cols); a one-row view may carry any stride.
int LeadingDim(const RowView<float>& m) {
  const int64_t ld = m.rows <= 1 ? std::max<int64_t>(m.cols, 1) : m.row_stride;
  CHECK_GE(ld, m.cols) << "overlapping rows";
  CHECK_LE(ld, INT32_MAX) << "row stride too large for BLAS";
  return static_cast<int>(ld);
}

void Zero(const RowView<float>& m) {
  for (int64_t r = 0; r < m.rows; ++r) std::fill_n(m.row(r), m.cols, 0.0f);
}

}  // namespace

void MatMul(const Tensor& x, const Tensor& w, const Tensor& out, bool accumulate) {
  const RowView<float> a = F32Rows(x, "MatMul x");
  const RowView<float> b = F32Rows(w, "MatMul w");
  const RowView<float> c = F32Rows(out, "MatMul out");
  CHECK_EQ(a.cols, b.cols) << "MatMul x " << x.ShapeString() << " vs w " << w.ShapeString();
  CHECK(c.rows == a.rows && c.cols == b.rows) << "MatMul out " << out.ShapeString() << " for x "
                                              << x.ShapeString() << ", w " << w.ShapeString();
  CHECK(a.rows <= INT32_MAX && b.rows <= INT32_MAX && a.cols <= INT32_MAX) << "MatMul too large";
  if (c.rows == 0 || c.cols == 0) return;
  if (a.cols == 0) {  // an empty sum; BLAS rejects a zero leading dimension
    if (!accumulate) Zero(c);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(a.rows),
              static_cast<int>(b.rows), static_cast<int>(a.cols), 1.0f, a.data, LeadingDim(a),
              b.data, LeadingDim(b), accumulate ? 1.0f : 0.0f, c.data, LeadingDim(c));
}

}  // namespace tspserve::cpu
