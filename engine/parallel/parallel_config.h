// How the N ranks split the work: the parallel mode (TSP or a baseline), the degree, and the
// decode schedule. Chosen once per run; the schedules in this folder read it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/kv/sharded_kv_cache.h"
#include "engine/parallel/shard_layout.h"

namespace tspserve {

enum class ParallelMode {
  kTsp,  // weights, tokens and KV all divided by N (DESIGN.md 1.1, 1.2)
  kTp,   // Megatron TP: weights by heads/channels, activations replicated, KV by head
  kSp,   // weights replicated; tokens and KV by sequence, K/V exchanged for attention
};

enum class DecodeSchedule {
  kWeightStationary,  // weights stay; q/k/v all-gathered, split-KV attention, all-to-all, all-reduce
  kBroadcast,         // the paper's weight-moving schedule: shards broadcast every layer
};

struct ParallelConfig {
  ParallelMode mode = ParallelMode::kTsp;
  int32_t degree = 1;
  DecodeSchedule decode_schedule = DecodeSchedule::kWeightStationary;

  // The weight slice rank `rank` holds (SP: everything).
  ShardSpec WeightShard(int32_t rank) const;
  // TP stores every token on every rank (its own K/V heads); TSP and SP shard by sequence.
  KvPlacement kv_placement() const;
  // Weights sharded across the ranks (TSP, TP) rather than replicated (SP).
  bool weights_sharded() const { return mode != ParallelMode::kSp && degree > 1; }
};

absl::StatusOr<ParallelMode> ParseParallelMode(std::string_view name);      // tsp | tp | sp
absl::StatusOr<DecodeSchedule> ParseDecodeSchedule(std::string_view name);  // weight-stationary | broadcast
std::string_view ParallelModeName(ParallelMode mode);
std::string_view DecodeScheduleName(DecodeSchedule schedule);

}  // namespace tspserve
