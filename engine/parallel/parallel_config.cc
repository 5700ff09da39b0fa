#include "engine/parallel/parallel_config.h"

#include "absl/strings/str_cat.h"

namespace tspserve {

ShardSpec ParallelConfig::WeightShard(int32_t rank) const {
  return mode == ParallelMode::kSp ? ShardSpec{0, 1} : ShardSpec{rank, degree};
}

KvPlacement ParallelConfig::kv_placement() const {
  return mode == ParallelMode::kTp ? KvPlacement::kReplicated : KvPlacement::kSequenceSharded;
}

std::string_view ParallelModeName(ParallelMode mode) {
  switch (mode) {
    case ParallelMode::kTsp: return "tsp";
    case ParallelMode::kTp: return "tp";
    case ParallelMode::kSp: return "sp";
  }
  return "?";
}

std::string_view DecodeScheduleName(DecodeSchedule schedule) {
  return schedule == DecodeSchedule::kBroadcast ? "broadcast" : "weight-stationary";
}

absl::StatusOr<ParallelMode> ParseParallelMode(std::string_view name) {
  for (ParallelMode m : {ParallelMode::kTsp, ParallelMode::kTp, ParallelMode::kSp}) {
    if (ParallelModeName(m) == name) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown parallel mode \"", std::string(name), "\"; modes: tsp, tp, sp"));
}

absl::StatusOr<DecodeSchedule> ParseDecodeSchedule(std::string_view name) {
  for (DecodeSchedule s : {DecodeSchedule::kWeightStationary, DecodeSchedule::kBroadcast}) {
    if (DecodeScheduleName(s) == name) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown decode schedule \"", std::string(name), "\"; schedules: weight-stationary, broadcast"));
}

}  // namespace tspserve
