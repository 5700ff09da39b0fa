#include "engine/backend/cpu/cpu_rope.h"

#include "engine/backend/cpu/cpu_views.h"

namespace tspserve::cpu {
namespace {

// Rotates one head of `2 * half` values with the cos row `c` and the sin row `s`.
void RotateHead(float* head, const float* c, const float* s, int64_t half) {
  for (int64_t i = 0; i < half; ++i) {
    const float x1 = head[i];
    const float x2 = head[i + half];
    head[i] = x1 * c[i] - x2 * s[i];
    head[i + half] = x2 * c[i] + x1 * s[i];
  }
}

}  // namespace

void Rope(const Tensor& x, int32_t head_dim, const Tensor& positions, const Tensor& cos_sin) {
  const RowView<float> rows = F32Rows(x, "Rope x");
  const RowView<float> table = F32Rows(cos_sin, "Rope cos_sin");
  CHECK(head_dim > 0 && head_dim % 2 == 0) << "Rope head_dim " << head_dim;
  CHECK_EQ(rows.cols % head_dim, 0) << "Rope x " << x.ShapeString() << " head_dim " << head_dim;
  CHECK_EQ(table.cols, head_dim) << "Rope cos_sin " << cos_sin.ShapeString();
  const int32_t* pos = I32Vector(positions, rows.rows, "Rope positions");
  const int64_t half = head_dim / 2;
  for (int64_t t = 0; t < rows.rows; ++t) {
    CHECK(pos[t] >= 0 && pos[t] < table.rows)
        << "Rope position " << pos[t] << " outside the table of " << table.rows;
    const float* c = table.row(pos[t]);
    for (int64_t h = 0; h < rows.cols; h += head_dim) {
      RotateHead(rows.row(t) + h, c, c + half, half);
    }
  }
}

}  // namespace tspserve::cpu
