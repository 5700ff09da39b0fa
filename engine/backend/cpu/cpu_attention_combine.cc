#include "engine/backend/cpu/cpu_attention_combine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/backend/cpu/cpu_views.h"

namespace tspserve::cpu {

void CombineAttention(const Tensor& partials, const Tensor& lse, const Tensor& out) {
  CHECK(partials.rank() == 3 && lse.rank() == 3) << "partials " << partials.ShapeString()
                                                  << ", lse " << lse.ShapeString();
  CHECK(partials.is_contiguous() && lse.is_contiguous());
  const int64_t sources = partials.dim(0), tokens = partials.dim(1), heads = lse.dim(2);
  CHECK(lse.dim(0) == sources && lse.dim(1) == tokens);
  const int64_t width = partials.dim(2), head_dim = width / heads;
  CHECK_EQ(head_dim * heads, width);
  const RowView<float> o = F32Rows(out, "out");
  CHECK(o.rows == tokens && o.cols == width) << "out " << out.ShapeString();
  const float* p = partials.data_as<const float>();
  const float* l = lse.data_as<const float>();
  std::vector<float> weight(static_cast<size_t>(sources));
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t s = 0; s < sources; ++s) m = std::max(m, l[(s * tokens + t) * heads + h]);
      float* dst = o.row(t) + h * head_dim;
      std::fill_n(dst, head_dim, 0.0f);
      if (std::isinf(m) && m < 0) continue;
      float total = 0;
      for (int64_t s = 0; s < sources; ++s) {
        weight[static_cast<size_t>(s)] = std::exp(l[(s * tokens + t) * heads + h] - m);
        total += weight[static_cast<size_t>(s)];
      }
      for (int64_t s = 0; s < sources; ++s) {
        const float w = weight[static_cast<size_t>(s)] / total;
        const float* src = p + (s * tokens + t) * width + h * head_dim;
        for (int64_t d = 0; d < head_dim; ++d) dst[d] += w * src[d];
      }
    }
  }
}

}  // namespace tspserve::cpu
