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
  kTpSp, // a tp x sp mesh: TP inside groups of tp ranks, SP across the sp groups
};

enum class DecodeSchedule {
  kWeightStationary,  // weights stay; q/k/v all-gathered, split-KV attention, all-to-all, all-reduce
  kBroadcast,         // the paper's weight-moving schedule: shards broadcast every layer
};

struct ParallelConfig {
  ParallelMode mode = ParallelMode::kTsp;
  int32_t degree = 1;
  DecodeSchedule decode_schedule = DecodeSchedule::kWeightStationary;
  int32_t tp = 1;  // kTpSp only: degree == tp * sp; rank = sequence_rank * tp + tensor_rank
  int32_t sp = 1;

  // The mesh coordinates of a rank. The tensor group shares a token's heads (and all-reduces);
  // the sequence group splits a sequence's tokens and pages. TSP puts all N ranks in both.
  int32_t tensor_size() const;
  int32_t tensor_rank(int32_t rank) const;
  int32_t sequence_size() const;
  int32_t sequence_rank(int32_t rank) const;
  // The page tables kept on the engine thread: one per sequence group (TP: one per rank, each
  // holding every token).
  int32_t kv_degree() const;
  int32_t kv_rank(int32_t rank) const { return mode == ParallelMode::kTpSp ? rank / tp : rank; }
  // Whether a rank's cache holds only its own K/V heads (TP, TP x SP) rather than all of them.
  bool kv_sharded_by_head() const { return mode == ParallelMode::kTp || mode == ParallelMode::kTpSp; }

  // The weight slice rank `rank` holds (SP: everything).
  ShardSpec WeightShard(int32_t rank) const;
  // TP stores every token on every rank (its own K/V heads); TSP and SP shard by sequence.
  KvPlacement kv_placement() const;
  // Weights sharded across the tensor group (TSP, TP, TP x SP) rather than replicated (SP).
  bool weights_sharded() const { return mode != ParallelMode::kSp && tensor_size() > 1; }
  // InvalidArgument when the degree and the mesh disagree.
  absl::Status Validate() const;
};

absl::StatusOr<ParallelMode> ParseParallelMode(std::string_view name);      // tsp | tp | sp | tp_sp
absl::StatusOr<DecodeSchedule> ParseDecodeSchedule(std::string_view name);  // weight-stationary | broadcast
std::string_view ParallelModeName(ParallelMode mode);
std::string_view DecodeScheduleName(DecodeSchedule schedule);

}  // namespace tspserve
