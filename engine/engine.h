// Engine: the public API that server/ and the tests use. It owns the executor, the scheduler and
// the requests in flight, and advances them one step at a time on its own thread:
//
//   plan   = scheduler.Schedule()        which sequences prefill or decode, and how far
//   output = executor.Run(plan)          the model on this step's tokens, on N ranks
//   Postprocess(plan, output)            sample, append, detokenize, stop, free pages
//
// Submit and Abort are thread-safe and never wait for a step; outputs arrive through the
// request's callback on the engine thread.
#pragma once

#include <cstdint>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/metrics/server_metrics.h"
#include "engine/parallel/parallel_config.h"
#include "engine/request_output.h"
#include "engine/runtime/parallel_executor.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/sampling_params.h"
#include "engine/sampling/stop_checker.h"
#include "engine/scheduler/scheduler.h"
#include "models/config/model_config.h"
#include "models/tokenizer/incremental_decoder.h"
#include "models/tokenizer/tokenizer.h"

namespace tspserve {

struct EngineOptions {
  std::string model_dir;
  ParallelConfig parallel;               // mode, degree and decode schedule (default: TSP on 1 rank)
  Device device = Device::kCpu;          // kCuda: rank r on GPU r, bf16, NCCL
  double gpu_memory_utilization = 0.9;   // CUDA with kv_cache_bytes == 0: see ExecutorOptions
  int32_t block_size = 16;
  int64_t kv_cache_bytes = 256ll << 20;  // memory for KV pages per rank (0 on CUDA: from free memory)
  int32_t num_kv_blocks = 0;             // > 0: exactly this many pages per rank (overrides the bytes)
  bool decode_graphs = false;            // decode steps as CUDA graphs: see ExecutorOptions
  // Every step's logits come back and Sampler draws on the host: the reference that sampling on
  // the devices (the default) is tested against.
  bool sample_on_host = false;
  SchedulerOptions scheduler;
  int32_t max_queued_requests = 4096;    // waiting requests beyond this are refused (Unavailable)
  metrics::ServerMetrics* metrics = nullptr;  // not owned; when set, the engine records into it
};

struct GenerateRequest {
  std::vector<int32_t> prompt_tokens;
  SamplingParams sampling;
  StoppingCriteria stopping;
  // Generation ends with kDeadlineExceeded at the first step after this time.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

// A snapshot of the engine's load, refreshed after every step.
struct EngineLoad {
  int32_t running = 0;
  int32_t waiting = 0;
  std::vector<int32_t> kv_pages_used;  // per rank (per sequence group under TP x SP)
  int32_t kv_pages_total = 0;          // per rank
  int64_t num_preemptions = 0;
};

struct GenerateResult {
  absl::Status status;        // not OK: the request was rejected or failed (no tokens then)
  std::vector<int32_t> tokens;
  std::string text;           // the streamed text, stop string handling applied
  FinishReason finish_reason = FinishReason::kNone;
  std::string matched_stop;   // the stop string or stop token id that ended it, if any
  int32_t num_preemptions = 0;
};

struct EngineStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t steps = 0;
  double prefill_seconds = 0;  // steps that held prompt tokens
  double decode_seconds = 0;   // steps of decode tokens only
};

class Engine {
 public:
  // Loads the model on every rank and starts the engine thread.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const EngineOptions& options);
  // Cancels whatever is in flight (each gets a final kCancelled output) and stops the thread.
  ~Engine();

  // Queues a request. Errors come back at once, naming the field: InvalidArgument for a bad
  // request, FailedPrecondition for one that can never fit in the KV cache, Unavailable when the
  // queue is full. Otherwise returns the request's id; `on_output` then receives its deltas.
  absl::StatusOr<uint64_t> Submit(GenerateRequest request, OutputCallback on_output);
  // Ends a request (final output kCancelled) and frees its pages within one step. Unknown or
  // finished ids are ignored.
  void Abort(uint64_t request_id);
  EngineLoad GetLoad() const;

  // Runs the requests to completion, batched together; results in request order. A request
  // that is invalid or can never fit fails alone with its status; the others still run.
  std::vector<GenerateResult> Generate(std::vector<GenerateRequest> requests);

  // Teacher-forced logits at every position of `tokens`: [tokens.size(), vocab_size]. The
  // sequence's pages are freed afterwards.
  absl::StatusOr<std::vector<float>> PromptLogits(std::span<const int32_t> tokens);

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ParallelConfig& parallel() const { return options_.parallel; }
  int32_t block_size() const { return options_.block_size; }
  // The inspection methods below read engine-thread state: call them while no request is in
  // flight (tests, reports after Generate).
  const EngineStats& stats() const { return stats_; }
  // Per rank: weights, measured memory peaks, communication, KV pages.
  std::vector<RankReport> Reports() const { return executor_->Reports(); }
  void ResetCommStats() { executor_->ResetCommStats(); }
  const ShardedKvCache& kv_cache() const { return executor_->kv_cache(); }

 private:
  struct Request;
  Engine(ModelConfig config, std::unique_ptr<Tokenizer> tokenizer,
         std::unique_ptr<ParallelExecutor> executor, const EngineOptions& options);
  absl::Status Validate(const GenerateRequest& request) const;
  // Runs `task` on the engine thread and waits for it.
  void RunOnEngineThread(const std::function<void()>& task);
  void Loop();
  void Admit(std::unique_ptr<Request> request);
  void ExpireDeadlines();
  absl::Status Step();
  // Sets plan.sampling (each logit row's settings, in plan order) and plan.penalties for sampling
  // on the devices; leaves both empty when some entry needs its whole row on the host (teacher
  // forcing, a top-k beyond the candidates, logprobs with penalties or banned tokens).
  void PlanDeviceSampling(BatchPlan& plan);
  void Postprocess(const BatchPlan& plan, const StepOutput& output);
  void AppendToken(Request& request, const SampledToken& token);
  void Emit(Request& request);
  void Finish(Request& request, FinishReason reason, absl::Status status = absl::OkStatus());
  void FailAll(const absl::Status& status);
  void PublishLoad();
  void RecordCollectives();

  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ParallelExecutor> executor_;
  EngineOptions options_;

  // Engine-thread state.
  Scheduler scheduler_;
  std::map<SeqId, std::unique_ptr<Request>> active_;
  EngineStats stats_;
  int64_t preemptions_recorded_ = 0;
  CommStats comm_recorded_;  // summed over ranks, as of the last RecordCollectives

  // Shared with callers, guarded by mu_.
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Request>> intake_;
  std::vector<uint64_t> aborts_;
  std::vector<std::function<void()>> tasks_;
  int32_t queued_ = 0;  // submitted and not yet finished
  bool stopping_ = false;
  EngineLoad load_;
  uint64_t next_id_ = 1;
  std::thread thread_;
};

}  // namespace tspserve
