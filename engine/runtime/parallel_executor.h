// ParallelExecutor: runs each step's BatchPlan on N ranks. It owns the ranks (a backend, a
// communicator, the rank's LlamaModel shard and its ParallelForward each), the worker threads that
// run them, and the page bookkeeping of all ranks. Per step, on the engine thread, it reserves the
// plan's KV slots (placing tokens by the mode's rule) and lays out every rank's RankStep; then every
// rank runs it at once, and rank 0's logits come back.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend/backend.h"
#include "engine/comm/communicator.h"
#include "engine/kv/sharded_kv_cache.h"
#include "engine/parallel/parallel_config.h"
#include "engine/parallel/parallel_forward.h"
#include "engine/runtime/rank_workers.h"
#include "engine/scheduler/batch_plan.h"
#include "models/config/model_config.h"
#include "models/llama_model.h"

namespace tspserve {

struct ExecutorOptions {
  ParallelConfig parallel;
  int32_t block_size = 16;
  int64_t kv_cache_bytes = 256ll << 20;  // per rank
  int32_t num_kv_blocks = 0;             // > 0: exactly this many pages per rank
};

// What one rank holds and has moved, for --report and the tests.
struct RankReport {
  int32_t rank = 0;
  int64_t weight_bytes = 0;
  MemoryStats memory;  // measured by the rank's allocator
  CommStats comm;      // bytes this rank sent, by collective kind
  int32_t kv_pages_used = 0;  // now
  int32_t kv_pages_peak = 0;  // the most in use at the end of any step so far
  int32_t kv_pages_total = 0;
};

class ParallelExecutor {
 public:
  static absl::StatusOr<std::unique_ptr<ParallelExecutor>> Create(const std::string& model_dir,
                                                                  const ModelConfig& config,
                                                                  const ExecutorOptions& options);
  ~ParallelExecutor();

  // The scheduler has checked that the pages exist; a shortfall is an error that leaves every
  // rank's pages as they were before the step.
  absl::StatusOr<StepOutput> Run(const BatchPlan& plan);

  ShardedKvCache& kv_cache() { return *kv_; }
  const ShardedKvCache& kv_cache() const { return *kv_; }
  const ParallelConfig& parallel() const { return options_.parallel; }
  std::vector<RankReport> Reports() const;
  // Bytes sent and time spent in collectives, by kind, summed over every rank and mesh group.
  CommStats TotalCommStats() const;
  void ResetCommStats();

 private:
  // Members are destroyed in reverse order: the model's buffers go back to the backend's
  // allocator before the backend itself.
  struct Rank {
    std::unique_ptr<Backend> backend;
    std::unique_ptr<Communicator> comm;
    std::unique_ptr<Communicator> tensor_comm;    // TP x SP mesh groups; null otherwise
    std::unique_ptr<Communicator> sequence_comm;
    std::unique_ptr<LlamaModel> model;
    std::unique_ptr<ParallelForward> forward;
  };
  explicit ParallelExecutor(const ExecutorOptions& options);
  absl::StatusOr<std::vector<std::vector<TokenSlot>>> ReserveSlots(const BatchPlan& plan);

  ExecutorOptions options_;
  std::vector<Rank> ranks_;
  std::unique_ptr<RankWorkers> workers_;
  std::unique_ptr<ShardedKvCache> kv_;
  std::vector<int32_t> kv_pages_peak_;  // per rank
};

}  // namespace tspserve
