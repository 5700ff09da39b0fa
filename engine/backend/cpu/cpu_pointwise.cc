#include "engine/backend/cpu/cpu_pointwise.h"

#include <cmath>
#include <cstdint>

#include "engine/backend/cpu/cpu_views.h"
#include "engine/common/random_fill.h"

namespace tspserve::cpu {

void Add(const Tensor& a, const Tensor& b) {
  const RowView<float> dst = F32Rows(a, "Add a");
  const RowView<float> src = F32Rows(b, "Add b");
  CheckSameShape(dst, src, "Add a", "b");
  for (int64_t r = 0; r < dst.rows; ++r) {
    float* d = dst.row(r);
    const float* s = src.row(r);
    for (int64_t i = 0; i < dst.cols; ++i) d[i] += s[i];
  }
}

void AddBias(const Tensor& x, const Tensor& bias) {
  const RowView<float> dst = F32Rows(x, "AddBias x");
  const float* b = F32Vector(bias, dst.cols, "AddBias bias");
  for (int64_t r = 0; r < dst.rows; ++r) {
    float* d = dst.row(r);
    for (int64_t i = 0; i < dst.cols; ++i) d[i] += b[i];
  }
}

void SiluMul(const Tensor& gate_up, const Tensor& out) {
  const RowView<float> src = F32Rows(gate_up, "SiluMul gate_up");
  const RowView<float> dst = F32Rows(out, "SiluMul out");
  CHECK(src.rows == dst.rows && src.cols == 2 * dst.cols)
      << "SiluMul gate_up " << gate_up.ShapeString() << " vs out " << out.ShapeString();
  const int64_t width = dst.cols;
  for (int64_t r = 0; r < dst.rows; ++r) {
    const float* gate = src.row(r);
    const float* up = gate + width;
    float* d = dst.row(r);
    for (int64_t i = 0; i < width; ++i) {
      const float g = gate[i];
      d[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
  }
}

void FillRandom(const Tensor& t, uint64_t seed, float scale) {
  CheckCpu(t, "FillRandom");
  CHECK(t.dtype() == DType::kF32 && t.is_contiguous()) << "FillRandom needs a contiguous F32 tensor";
  float* data = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) data[i] = RandomFillValue(seed, static_cast<uint64_t>(i), scale);
}

}  // namespace tspserve::cpu
