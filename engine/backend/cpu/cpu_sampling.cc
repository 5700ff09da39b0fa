#include "engine/backend/cpu/cpu_sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "engine/backend/cpu/cpu_views.h"
#include "engine/common/race_key.h"

namespace tspserve::cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// log(sum(exp(x / divisor))) over the row in double; -inf for an empty or all -inf row. Divides
// rather than multiplying by 1 / divisor, which overflows for denormal temperatures.
float LogSumExp(const float* row, int64_t n, double divisor) {
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < n; ++c) max = std::max(max, row[c] / divisor);
  if (max == -std::numeric_limits<double>::infinity()) return kNegInf;
  double sum = 0;
  for (int64_t c = 0; c < n; ++c) sum += std::exp(row[c] / divisor - max);
  return static_cast<float>(max + std::log(sum));
}

}  // namespace

void SampleRows(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& races,
                const Tensor& temperatures, const Tensor& out) {
  const RowView<float> in = F32Rows(logits, "SampleRows logits");
  const RowView<float> result = F32Rows(out, "SampleRows out");
  CHECK(result.rows == in.rows && result.cols == 4) << "SampleRows out must be [rows, 4]";
  CHECK(valid_cols >= 0 && valid_cols <= in.cols) << "SampleRows valid_cols " << valid_cols;
  CHECK(races.rank() == 2 && races.dim(0) == in.rows && races.dim(1) == 2)
      << "SampleRows races must be [rows, 2], got " << races.ShapeString();
  const int64_t* race = Vector<int64_t>(races.View({2 * in.rows}), DType::kI64, 2 * in.rows, "SampleRows races");
  const float* temperature = F32Vector(temperatures, in.rows, "SampleRows temperatures");
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* row = in.row(r);
    float* o = result.row(r);
    if (valid_cols == 0) {
      std::fill_n(o, 4, kNegInf);
      o[1] = -1.0f;
      continue;
    }
    const float t = temperature[r];
    const auto seed = static_cast<uint64_t>(race[2 * r]), step = static_cast<uint64_t>(race[2 * r + 1]);
    int64_t best = 0;
    double best_key = RaceKey(row[0], t, seed, step, id_offset);
    for (int64_t c = 1; c < valid_cols; ++c) {
      const double key = RaceKey(row[c], t, seed, step, id_offset + c);
      if (key > best_key) best = c, best_key = key;
    }
    o[0] = row[best];
    o[1] = static_cast<float>(id_offset + best);
    o[2] = LogSumExp(row, valid_cols, 1.0);
    o[3] = t == 0.0f ? o[2] : LogSumExp(row, valid_cols, t);
  }
}

void TopCandidates(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& out) {
  const RowView<float> in = F32Rows(logits, "TopCandidates logits");
  const RowView<float> result = F32Rows(out, "TopCandidates out");
  CHECK(result.rows == in.rows && result.cols % 2 == 0) << "TopCandidates out must be [rows, 2k]";
  CHECK(valid_cols >= 0 && valid_cols <= in.cols) << "TopCandidates valid_cols " << valid_cols;
  const int64_t k = result.cols / 2, kept = std::min(k, valid_cols);
  std::vector<int64_t> columns(static_cast<size_t>(valid_cols));
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* row = in.row(r);
    std::iota(columns.begin(), columns.end(), 0);
    std::partial_sort(columns.begin(), columns.begin() + kept, columns.end(), [row](int64_t a, int64_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    float* o = result.row(r);
    for (int64_t i = 0; i < k; ++i) {
      o[2 * i] = i < kept ? row[columns[static_cast<size_t>(i)]] : kNegInf;
      o[2 * i + 1] = i < kept ? static_cast<float>(id_offset + columns[static_cast<size_t>(i)]) : -1.0f;
    }
  }
}

}  // namespace tspserve::cpu
