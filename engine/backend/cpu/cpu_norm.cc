#include "engine/backend/cpu/cpu_norm.h"

#include <cmath>
#include <cstdint>

#include "engine/backend/cpu/cpu_views.h"

namespace tspserve::cpu {
namespace {

// Normalises one row of `n` values from `in` into `out` (which may be `in`). The sum of squares is
// accumulated in double so that the mean matches PyTorch's tree reduction to float precision.
void NormalizeRow(const float* in, const float* weight, int64_t n, float eps, float* out) {
  double sum_sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(in[i]) * in[i];
  const float variance = n > 0 ? static_cast<float>(sum_sq / static_cast<double>(n)) : 0.0f;
  const float inv_rms = 1.0f / std::sqrt(variance + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (in[i] * inv_rms) * weight[i];
}

}  // namespace

void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) {
  const RowView<float> in = F32Rows(x, "RmsNorm x");
  const RowView<float> dst = F32Rows(out, "RmsNorm out");
  CheckSameShape(in, dst, "RmsNorm x", "out");
  const float* w = F32Vector(weight, -1, "RmsNorm weight");
  const int64_t group = weight.dim(0);
  CHECK(group > 0 && in.cols % group == 0)
      << "RmsNorm x " << x.ShapeString() << " is not a whole number of groups of " << group;
  for (int64_t r = 0; r < in.rows; ++r) {
    for (int64_t c = 0; c < in.cols; c += group) {
      NormalizeRow(in.row(r) + c, w, group, eps, dst.row(r) + c);
    }
  }
}

void AddRmsNorm(const Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                const Tensor& out) {
  const RowView<float> res = F32Rows(residual, "AddRmsNorm residual");
  const RowView<float> in = F32Rows(x, "AddRmsNorm x");
  const RowView<float> dst = F32Rows(out, "AddRmsNorm out");
  CheckSameShape(res, in, "AddRmsNorm residual", "x");
  CheckSameShape(res, dst, "AddRmsNorm residual", "out");
  CHECK(res.rows == 0 || residual.data() != out.data()) << "AddRmsNorm out aliases residual";
  const float* w = F32Vector(weight, res.cols, "AddRmsNorm weight");
  for (int64_t r = 0; r < res.rows; ++r) {
    float* row = res.row(r);
    const float* add = in.row(r);
    for (int64_t i = 0; i < res.cols; ++i) row[i] += add[i];
    NormalizeRow(row, w, res.cols, eps, dst.row(r));
  }
}

}  // namespace tspserve::cpu
