#include "engine/backend/cpu/cpu_sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "engine/backend/cpu/cpu_views.h"
#include "engine/common/race_key.h"
#include "engine/common/rank_key.h"

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
    RaceLeader leader(t, static_cast<uint64_t>(race[2 * r]), static_cast<uint64_t>(race[2 * r + 1]));
    for (int64_t c = 0; c < valid_cols; ++c) leader.Enter(row[c], id_offset + c);
    o[0] = leader.logit();
    o[1] = static_cast<float>(leader.id());
    o[2] = LogSumExp(row, valid_cols, 1.0);
    o[3] = t == 0.0f ? o[2] : LogSumExp(row, valid_cols, t);
  }
}

void PenalizeLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& entries,
                    const Tensor& penalties) {
  const RowView<float> rows = F32Rows(logits, "PenalizeLogits logits");
  CHECK(valid_cols >= 0 && valid_cols <= rows.cols) << "PenalizeLogits valid_cols " << valid_cols;
  CHECK(entries.rank() == 2 && entries.dim(1) == 3) << "PenalizeLogits entries must be [E, 3], got " << entries.ShapeString();
  CHECK(penalties.rank() == 2 && penalties.dim(0) == rows.rows && penalties.dim(1) == 3)
      << "PenalizeLogits penalties must be [rows, 3], got " << penalties.ShapeString();
  const int64_t num_entries = entries.dim(0);
  if (num_entries == 0) return;
  const int32_t* entry = I32Vector(entries.View({3 * num_entries}), 3 * num_entries, "PenalizeLogits entries");
  const float* penalty = F32Vector(penalties.View({3 * rows.rows}), 3 * rows.rows, "PenalizeLogits penalties");
  for (int64_t e = 0; e < num_entries; ++e) {
    const int32_t row = entry[3 * e], count = entry[3 * e + 2];
    const int64_t column = entry[3 * e + 1] - id_offset;
    if (row < 0 || row >= rows.rows || column < 0 || column >= valid_cols) continue;  // another shard's
    float& x = rows.row(row)[column];
    const float repetition = penalty[3 * row], frequency = penalty[3 * row + 1], presence = penalty[3 * row + 2];
    if (count < 0) {
      x = -std::numeric_limits<float>::infinity();
      continue;
    }
    if (repetition != 1.0f) x = x > 0.0f ? x / repetition : x * repetition;
    if (count > 0) x -= frequency * static_cast<float>(count) + presence;
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
    const auto more_likely = [row](int64_t a, int64_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); };
    if (kept > 0 && kept < valid_cols) std::nth_element(columns.begin(), columns.begin() + kept - 1, columns.end(), more_likely);
    std::sort(columns.begin(), columns.begin() + kept, more_likely);  // a total order: the same as a partial sort
    float* o = result.row(r);
    for (int64_t i = 0; i < k; ++i) {
      o[2 * i] = i < kept ? row[columns[static_cast<size_t>(i)]] : kNegInf;
      o[2 * i + 1] = i < kept ? static_cast<float>(id_offset + columns[static_cast<size_t>(i)]) : -1.0f;
    }
  }
}

void KeyHistogram(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& queries,
                  const Tensor& scales, const Tensor& out) {
  const RowView<float> in = F32Rows(logits, "KeyHistogram logits");
  const RowView<float> result = F32Rows(out, "KeyHistogram out");
  CHECK(result.rows == in.rows && result.cols == 512) << "KeyHistogram out must be [rows, 512]";
  CHECK(valid_cols >= 0 && valid_cols <= in.cols) << "KeyHistogram valid_cols " << valid_cols;
  const int64_t* query = Vector<int64_t>(queries.View({queries.numel()}), DType::kI64, 2 * in.rows, "KeyHistogram queries");
  const float* scale = F32Vector(scales.View({scales.numel()}), 2 * in.rows, "KeyHistogram scales");
  for (int64_t r = 0; r < in.rows; ++r) {
    float* o = result.row(r);
    std::fill_n(o, 512, 0.0f);
    const uint64_t prefix = static_cast<uint64_t>(query[2 * r]);
    const int64_t shift = query[2 * r + 1];
    if (shift < 0) continue;
    CHECK(shift <= 56 && shift % 8 == 0) << "KeyHistogram shift " << shift;
    const double m = scale[2 * r], t = scale[2 * r + 1];
    std::vector<double> mass(256, 0.0);
    const float* row = in.row(r);
    for (int64_t c = 0; c < valid_cols; ++c) {
      if (row[c] == kNegInf) continue;
      const uint64_t key = RankKey(row[c], id_offset + c);
      if (shift < 56 && (key >> (shift + 8)) != (prefix >> (shift + 8))) continue;
      const size_t digit = static_cast<size_t>((key >> shift) & 255);
      o[digit] += 1.0f;
      mass[digit] += std::exp((static_cast<double>(row[c]) - m) / t);
    }
    for (size_t b = 0; b < 256; ++b) o[256 + b] = static_cast<float>(mass[b]);
  }
}

void MaskLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& thresholds) {
  const RowView<float> rows = F32Rows(logits, "MaskLogits logits");
  CHECK(valid_cols >= 0 && valid_cols <= rows.cols) << "MaskLogits valid_cols " << valid_cols;
  const int64_t* threshold = Vector<int64_t>(thresholds, DType::kI64, rows.rows, "MaskLogits thresholds");
  for (int64_t r = 0; r < rows.rows; ++r) {
    float* row = rows.row(r);
    const uint64_t keep_from = static_cast<uint64_t>(threshold[r]);
    for (int64_t c = 0; c < valid_cols; ++c) {
      if (RankKey(row[c], id_offset + c) < keep_from) row[c] = kNegInf;
    }
  }
}

}  // namespace tspserve::cpu
