// BenchRunner: one parallel mode (and decode schedule) of `tspserve bench`: an executor on the
// GPUs (or CPU ranks) and the cases run on it. Cases drive the executor directly with BatchPlans,
// no scheduler or gRPC, so a prefill's time is TTFT without queueing and a decode's is one step.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/comm/communicator.h"
#include "engine/runtime/parallel_executor.h"
#include "models/config/model_config.h"
#include "server/bench/device_rates.h"
#include "server/bench/workload.h"

namespace tspserve::bench {

struct RunnerOptions {
  ModelConfig config;
  std::string model_dir;       // read unless executor.random_weights
  ExecutorOptions executor;    // mode, degree, device, KV budget, random weights
  int32_t warmup = 1;
  int32_t repeat = 3;
  int32_t decode_steps = 8;    // timed steps per repeat of a decode case
  // Decode batches of mixed lengths: sequence b of B holds context * (b + 1) / B tokens (at least
  // 1), as a serving batch does, instead of `context` each.
  bool mixed_contexts = false;
  RowSampling sampling;        // every row's sampling on the devices (default greedy)
};

// Per-GPU memory of one case: allocator peaks, except the KV cache, which is the pages the case
// held at its peak (the pool itself is allocated up front, as in vLLM).
struct RankMemory {
  int64_t weights = 0;
  int64_t kv_cache = 0;
  int64_t activations = 0;
  int64_t workspace = 0;
  int64_t kv_pool = 0;  // the whole preallocated pool, for reference
  int64_t total() const { return weights + kv_cache + activations + workspace; }
};

struct CaseRecord {
  std::string phase;  // "prefill" or "decode"
  int64_t prompt_tokens = 0;  // prefill
  int64_t batch = 0;          // decode
  int64_t context = 0;        // decode: every sequence's, or the longest's when mixed
  bool mixed_contexts = false;  // decode: RunnerOptions::mixed_contexts
  bool ok = false;
  std::string error;          // why the case did not run (out of KV pages or memory)
  double seconds = 0;         // median: a whole prefill, or one decode step
  double seconds_min = 0;
  double tokens_per_s = 0;
  Workload work;              // per GPU
  double floor_seconds = 0;   // max(flops / matmul rate, bytes / copy rate)
  std::vector<RankMemory> memory;  // per rank
  CommStats comm;             // per timed run (prefill) or step (decode), summed over ranks
  int64_t replayed_steps = 0;  // decode steps of the case that replayed a recording (--decode-graphs)
};

class BenchRunner {
 public:
  static absl::StatusOr<std::unique_ptr<BenchRunner>> Create(const RunnerOptions& options,
                                                             const DeviceRates& rates);

  CaseRecord Prefill(int64_t tokens);
  CaseRecord Decode(int64_t batch, int64_t context);
  // The longest prompt that runs, found by running: doubling from `start` until a prompt fails or
  // `limit` runs, then bisecting `refine` times. 0 if `start` itself fails.
  int64_t LongestPrompt(int64_t start, int64_t limit, int32_t refine);

  const ParallelExecutor& executor() const { return *executor_; }

 private:
  BenchRunner(const RunnerOptions& options, const DeviceRates& rates,
              std::unique_ptr<ParallelExecutor> executor);
  // Clears step memory, peaks and collective counters before a case.
  void StartCase();
  // Fills memory, communication (divided over `timed_runs`) and the floor.
  void FinishCase(int32_t timed_runs, CaseRecord& record);
  std::vector<int32_t> RandomTokens(int64_t count);
  // Bytes of a weight, activation or K/V element on the ranks' backend (the floor's byte counts).
  int ElementBytes();

  RunnerOptions options_;
  DeviceRates rates_;
  std::unique_ptr<ParallelExecutor> executor_;
  SeqId next_seq_ = 1;
  uint64_t rng_ = 0x9E3779B97F4A7C15ull;
};

}  // namespace tspserve::bench
