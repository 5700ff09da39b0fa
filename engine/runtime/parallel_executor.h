// ParallelExecutor: runs each step's BatchPlan on N ranks. It owns the ranks (a backend, a
// communicator, the rank's LlamaModel shard and its ParallelForward each), the worker threads that
// run them, and the page bookkeeping of all ranks. Per step, on the engine thread, it reserves the
// plan's KV slots (placing tokens by the mode's rule) and lays out every rank's RankStep; then every
// rank runs it at once, and rank 0's sampled tokens or logits come back.
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
#include "engine/runtime/decode_recorder.h"
#include "engine/runtime/rank_workers.h"
#include "engine/scheduler/batch_plan.h"
#include "models/config/model_config.h"
#include "models/llama_model.h"

namespace tspserve {

struct ExecutorOptions {
  ParallelConfig parallel;
  Device device = Device::kCpu;          // rank r runs on GPU r under kCuda
  int32_t block_size = 16;
  int64_t kv_cache_bytes = 256ll << 20;  // per rank; 0 on CUDA: sized from free device memory
  int32_t num_kv_blocks = 0;             // > 0: exactly this many pages per rank
  // CUDA with kv_cache_bytes == 0: KV pages take what is left of this fraction of each GPU's
  // memory once the weights are loaded and `activation_reserve_bytes` is set aside for the steps.
  double gpu_memory_utilization = 0.9;
  int64_t activation_reserve_bytes = 4ll << 30;
  // Benchmarks: weights of the config's shapes filled on the devices (MakeRandomWeights) instead
  // of read from model_dir, which is then ignored.
  bool random_weights = false;
  // Tests: more ranks than GPUs, rank r on GPU r % count, collectives staged through host memory.
  bool share_gpus = false;
  uint64_t random_seed = 0;
  // Decode steps run their layers as recordings (CUDA graphs), one per token count and bucketed
  // page and key counts (DecodeRecorder); on backends that cannot record, decode steps only get
  // those fixed shapes.
  bool decode_graphs = false;
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
  int64_t kv_page_bytes = 0;  // bytes of one page (all layers, K and V)
};

class ParallelExecutor {
 public:
  // model_dir is read unless options.random_weights.
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
  const ExecutorOptions& options() const { return options_; }
  // Decode steps whose layers rank 0 ran as a recording's replay (decode_graphs).
  int64_t replayed_decode_steps() const { return ranks_[0].forward->replayed_steps(); }
  // Rank r's backend (its allocator's peaks, the device it runs on).
  Backend& backend(int32_t r) { return *ranks_[static_cast<size_t>(r)].backend; }
  // Frees every rank's step memory (scratch, metadata), then forgets the allocators' peaks and the
  // KV page peaks: a benchmark measures one case at a time.
  void ResetMemoryPeaks();
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
  // Pages per rank: explicit, from the byte budget, or from the GPUs' free memory (the fewest over
  // ranks) once the weights are loaded.
  absl::StatusOr<int32_t> BlocksPerRank(const ModelConfig& config, int64_t stored_heads) const;
  // Waits for every rank's device work of the step and settles the collectives' timings.
  void FinishStep(Rank& rank);
  // Every rank's memory generations (call while the ranks are idle).
  MemoryGenerations Generations() const;

  ExecutorOptions options_;
  std::vector<Rank> ranks_;
  std::unique_ptr<RankWorkers> workers_;
  std::unique_ptr<ShardedKvCache> kv_;
  std::vector<int32_t> kv_pages_peak_;  // per rank
  std::unique_ptr<DecodeRecorder> recorder_;  // with options_.decode_graphs
};

}  // namespace tspserve
