#include "engine/parallel/parallel_config.h"

#include "absl/strings/str_cat.h"

namespace tspserve {

ShardSpec ParallelConfig::WeightShard(int32_t rank) const {
  return mode == ParallelMode::kSp ? ShardSpec{0, 1} : ShardSpec{tensor_rank(rank), tensor_size()};
}

int32_t ParallelConfig::tensor_size() const {
  switch (mode) {
    case ParallelMode::kSp: return 1;
    case ParallelMode::kTpSp: return tp;
    default: return degree;
  }
}

int32_t ParallelConfig::tensor_rank(int32_t rank) const {
  return mode == ParallelMode::kSp ? 0 : rank % tensor_size();
}

int32_t ParallelConfig::sequence_size() const {
  switch (mode) {
    case ParallelMode::kTp: return 1;
    case ParallelMode::kTpSp: return sp;
    default: return degree;
  }
}

int32_t ParallelConfig::sequence_rank(int32_t rank) const {
  return mode == ParallelMode::kTp ? 0 : rank / (mode == ParallelMode::kTpSp ? tp : 1);
}

int32_t ParallelConfig::kv_degree() const { return mode == ParallelMode::kTpSp ? sp : degree; }

absl::Status ParallelConfig::Validate() const {
  if (degree < 1) return absl::InvalidArgumentError("the parallel degree must be at least 1");
  if (mode == ParallelMode::kTpSp && (tp < 1 || sp < 1 || tp * sp != degree)) {
    return absl::InvalidArgumentError(absl::StrCat("tp_sp needs --tp x --sp == --degree, got ", tp,
                                                   " x ", sp, " and ", degree));
  }
  return absl::OkStatus();
}

KvPlacement ParallelConfig::kv_placement() const {
  return mode == ParallelMode::kTp ? KvPlacement::kReplicated : KvPlacement::kSequenceSharded;
}

std::string_view ParallelModeName(ParallelMode mode) {
  switch (mode) {
    case ParallelMode::kTsp: return "tsp";
    case ParallelMode::kTp: return "tp";
    case ParallelMode::kSp: return "sp";
    case ParallelMode::kTpSp: return "tp_sp";
  }
  return "?";
}

std::string_view DecodeScheduleName(DecodeSchedule schedule) {
  return schedule == DecodeSchedule::kBroadcast ? "broadcast" : "weight-stationary";
}

absl::StatusOr<ParallelMode> ParseParallelMode(std::string_view name) {
  for (ParallelMode m : {ParallelMode::kTsp, ParallelMode::kTp, ParallelMode::kSp, ParallelMode::kTpSp}) {
    if (ParallelModeName(m) == name) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown parallel mode \"", std::string(name), "\"; modes: tsp, tp, sp, tp_sp"));
}

absl::StatusOr<DecodeSchedule> ParseDecodeSchedule(std::string_view name) {
  for (DecodeSchedule s : {DecodeSchedule::kWeightStationary, DecodeSchedule::kBroadcast}) {
    if (DecodeScheduleName(s) == name) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown decode schedule \"", std::string(name), "\"; schedules: weight-stationary, broadcast"));
}

}  // namespace tspserve
