#include "engine/sampling/nucleus_search.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/common/rank_key.h"

namespace tspserve {
namespace {

constexpr int32_t kBins = 256;

// The smallest key whose logit passes min-p: weight exp((logit - max) / T) >= min_p, as
// ApplyMinP tests it (the largest weight is 1). The test is monotone in the logit, so a bisection
// over the ordered bits of the finite floats up to max_logit finds the smallest passing one.
uint64_t MinPKey(float max_logit, float temperature, float min_p) {
  const auto passes = [&](uint32_t ordered) {
    const double shifted = static_cast<double>(FromOrderedBits(ordered)) - max_logit;
    return std::exp(shifted / static_cast<double>(temperature)) >= static_cast<double>(min_p);
  };
  uint32_t low = OrderedBits(-std::numeric_limits<float>::max()), high = OrderedBits(max_logit);
  if (passes(low)) return static_cast<uint64_t>(low) << 32;
  while (high - low > 1) {  // passes(high), !passes(low)
    const uint32_t mid = low + (high - low) / 2;
    (passes(mid) ? high : low) = mid;
  }
  return static_cast<uint64_t>(high) << 32;
}

}  // namespace

NucleusSearch::NucleusSearch(std::span<const RowSampling> rows, std::span<const std::optional<NucleusStart>> starts)
    : rows_(rows.size()) {
  for (size_t r = 0; r < rows.size(); ++r) {
    if (!starts[r].has_value()) continue;
    const RowSampling& p = rows[r];
    Row& row = rows_[r];
    row.max_logit = starts[r]->max_logit;
    row.temperature = p.temperature;
    row.top_p = p.top_p;
    if (p.min_p > 0.0f) row.min_p_key = MinPKey(row.max_logit, row.temperature, p.min_p);
    if (p.top_k > 0) {
      row.stage = Stage::kTopK;
      row.by_count = true;
      row.needed = p.top_k;
    } else if (p.top_p < 1.0f) {
      row.stage = Stage::kTopP;
      row.target = starts[r]->target;
    } else {
      row.stage = Stage::kDone;
    }
  }
}

bool NucleusSearch::done() const { return std::none_of(rows_.begin(), rows_.end(), searching); }

std::vector<int64_t> NucleusSearch::Queries() const {
  std::vector<int64_t> queries;
  for (const Row& row : rows_) {
    queries.push_back(static_cast<int64_t>(row.prefix));
    queries.push_back(searching(row) ? row.shift : -1);
  }
  return queries;
}

std::vector<float> NucleusSearch::Scales() const {
  std::vector<float> scales;
  for (const Row& row : rows_) scales.insert(scales.end(), {row.max_logit, row.temperature});
  return scales;
}

absl::Status NucleusSearch::Absorb(std::span<const float> histograms, int32_t num_shards) {
  const size_t num_rows = rows_.size();
  if (histograms.size() != static_cast<size_t>(num_shards) * num_rows * 2 * kBins) {
    return absl::InternalError(absl::StrCat("nucleus histograms hold ", histograms.size(), " numbers"));
  }
  std::vector<double> count(kBins), mass(kBins);
  for (size_t r = 0; r < num_rows; ++r) {
    Row& row = rows_[r];
    if (!searching(row)) continue;
    std::fill(count.begin(), count.end(), 0.0);
    std::fill(mass.begin(), mass.end(), 0.0);
    for (int32_t s = 0; s < num_shards; ++s) {
      const float* h = histograms.data() + (static_cast<size_t>(s) * num_rows + r) * 2 * kBins;
      for (int32_t b = 0; b < kBins; ++b) count[b] += h[b], mass[b] += h[kBins + b];
    }
    if (std::all_of(count.begin(), count.end(), [](double c) { return c == 0; })) {
      return absl::InternalError(absl::StrCat("nucleus search: row ", r, " has no token under its prefix"));
    }
    if (row.by_count) {
      AbsorbByCount(row, count, mass);
    } else {
      AbsorbByMass(row, count, mass);
    }
  }
  return absl::OkStatus();
}

// The byte of the needed-th token's key: the first bin, from the top, whose count brings the kept
// tokens to the number needed. When the bins down to it hold exactly that many (always so at the
// last byte, whose bins hold one key each), or the range holds fewer, every key from this prefix
// up is kept.
void NucleusSearch::AbsorbByCount(Row& row, std::span<const double> count, std::span<const double> mass) {
  int32_t chosen = -1;
  bool reached = false;
  for (int32_t b = kBins - 1; b >= 0; --b) {
    if (count[b] == 0) continue;
    chosen = b;
    if (row.count_above + static_cast<int64_t>(count[b]) >= row.needed) {
      reached = true;
      break;
    }
    row.count_above += static_cast<int64_t>(count[b]);
    row.mass_above += mass[b];
  }
  if (!reached) {  // fewer tokens than needed: the last bin is kept whole below
    row.count_above -= static_cast<int64_t>(count[chosen]);
    row.mass_above -= mass[chosen];
  }
  row.prefix |= static_cast<uint64_t>(chosen) << row.shift;
  if (row.count_above + static_cast<int64_t>(count[chosen]) > row.needed && row.shift > 0) {
    row.shift -= 8;
    return;
  }
  row.mass_above += mass[chosen];
  FinishStage(row, row.prefix);
}

// The byte of the last kept token's logit: the first bin, from the top, whose mass brings the
// kept mass to the target (the lowest nonempty bin when rounding leaves it just short). Once the
// logit is whole, the bin holds its ties, of equal weight: as many are kept as the target needs,
// found by count among them when that is not all of them.
void NucleusSearch::AbsorbByMass(Row& row, std::span<const double> count, std::span<const double> mass) {
  int32_t chosen = -1, lowest = -1;
  for (int32_t b = kBins - 1; b >= 0 && chosen < 0; --b) {
    if (count[b] == 0) continue;
    lowest = b;
    if (row.mass_above + mass[b] >= row.target) {
      chosen = b;
    } else {
      row.mass_above += mass[b];
    }
  }
  const bool reached = chosen >= 0;
  if (!reached) {
    chosen = lowest;
    row.mass_above -= mass[chosen];
  }
  row.prefix |= static_cast<uint64_t>(chosen) << row.shift;
  if (row.shift > 32) {
    row.shift -= 8;
    return;
  }
  const int64_t ties = static_cast<int64_t>(count[chosen]);
  int64_t needed = ties;
  if (reached) {
    const double weight = mass[chosen] / static_cast<double>(ties);
    needed = std::clamp<int64_t>(static_cast<int64_t>(std::ceil((row.target - row.mass_above) / weight)), 1, ties);
  }
  if (needed == ties) return FinishStage(row, row.prefix);
  row.by_count = true;
  row.needed = needed;
  row.count_above = 0;
  row.shift = 24;
}

void NucleusSearch::FinishStage(Row& row, uint64_t key) {
  if (row.stage == Stage::kTopK) {
    row.top_k_key = key;
    if (row.top_p < 1.0f) {  // top-p within the top-k set: of its mass (mass_above: every key >= key)
      row.stage = Stage::kTopP;
      row.by_count = false;
      row.target = static_cast<double>(row.top_p) * row.mass_above;
      row.mass_above = 0.0;
      row.prefix = 0;
      row.shift = 56;
      return;
    }
  } else {
    row.top_p_key = key;
  }
  row.stage = Stage::kDone;
}

std::vector<int64_t> NucleusSearch::Thresholds() const {
  std::vector<int64_t> thresholds;
  for (const Row& row : rows_) {
    const uint64_t key = row.stage == Stage::kIdle ? 0 : std::max({row.top_k_key, row.top_p_key, row.min_p_key});
    thresholds.push_back(static_cast<int64_t>(key));
  }
  return thresholds;
}

}  // namespace tspserve
