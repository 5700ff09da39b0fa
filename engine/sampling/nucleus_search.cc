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
    Row& row = rows_[r];
    row.max_logit = starts[r]->max_logit;
    row.temperature = rows[r].temperature;
    row.target = starts[r]->target;
    if (rows[r].min_p > 0.0f) row.min_p_key = MinPKey(row.max_logit, row.temperature, rows[r].min_p);
    row.phase = rows[r].top_p < 1.0f ? Phase::kLogitByMass : Phase::kDone;
  }
}

bool NucleusSearch::done() const {
  return std::none_of(rows_.begin(), rows_.end(), [](const Row& row) {
    return row.phase == Phase::kLogitByMass || row.phase == Phase::kIdByCount;
  });
}

std::vector<int64_t> NucleusSearch::Queries() const {
  std::vector<int64_t> queries;
  for (const Row& row : rows_) {
    const bool searching = row.phase == Phase::kLogitByMass || row.phase == Phase::kIdByCount;
    queries.push_back(static_cast<int64_t>(row.prefix));
    queries.push_back(searching ? row.shift : -1);
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
    if (row.phase != Phase::kLogitByMass && row.phase != Phase::kIdByCount) continue;
    std::fill(count.begin(), count.end(), 0.0);
    std::fill(mass.begin(), mass.end(), 0.0);
    for (int32_t s = 0; s < num_shards; ++s) {
      const float* h = histograms.data() + (static_cast<size_t>(s) * num_rows + r) * 2 * kBins;
      for (int32_t b = 0; b < kBins; ++b) count[b] += h[b], mass[b] += h[kBins + b];
    }
    if (std::all_of(count.begin(), count.end(), [](double c) { return c == 0; })) {
      return absl::InternalError(absl::StrCat("nucleus search: row ", r, " has no token under its prefix"));
    }
    if (row.phase == Phase::kLogitByMass) {
      AbsorbLogitByte(row, count, mass);
    } else {
      AbsorbIdByte(row, count);
    }
  }
  return absl::OkStatus();
}

// The byte of the last kept token's logit: the first bin, from the top, whose mass brings the
// kept mass to the target (the lowest nonempty bin when rounding leaves it just short).
void NucleusSearch::AbsorbLogitByte(Row& row, std::span<const double> count, std::span<const double> mass) {
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
  // The whole logit is known: the bin holds its ties, of equal weight. Keep as many as the
  // target needs; when that is all of them the id bytes do not matter.
  const int64_t ties = static_cast<int64_t>(count[chosen]);
  int64_t needed = ties;
  if (reached) {
    const double weight = mass[chosen] / static_cast<double>(ties);
    needed = std::clamp<int64_t>(static_cast<int64_t>(std::ceil((row.target - row.mass_above) / weight)), 1, ties);
  }
  if (needed == ties) {
    row.phase = Phase::kDone;
    return;
  }
  row.phase = Phase::kIdByCount;
  row.ties_needed = needed;
  row.shift = 24;
}

// The byte of the last kept tie's key (0xFFFFFFFF - id): the first bin, from the top, whose count
// brings the kept ties to the number needed.
void NucleusSearch::AbsorbIdByte(Row& row, std::span<const double> count) {
  int32_t chosen = 0;
  for (int32_t b = kBins - 1; b >= 0; --b) {
    if (row.ties_above + static_cast<int64_t>(count[b]) >= row.ties_needed) {
      chosen = b;
      break;
    }
    row.ties_above += static_cast<int64_t>(count[b]);
  }
  row.prefix |= static_cast<uint64_t>(chosen) << row.shift;
  if (row.shift == 0) {
    row.phase = Phase::kDone;
  } else {
    row.shift -= 8;
  }
}

std::vector<int64_t> NucleusSearch::Thresholds() const {
  std::vector<int64_t> thresholds;
  for (const Row& row : rows_) {
    const uint64_t key = row.phase == Phase::kIdle ? 0 : std::max(row.prefix, row.min_p_key);
    thresholds.push_back(static_cast<int64_t>(key));
  }
  return thresholds;
}

}  // namespace tspserve
