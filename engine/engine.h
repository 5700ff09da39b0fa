// Engine: the public API that server/ and the tests use. It owns the model runner, the scheduler
// and the requests in flight, and advances them one step at a time:
//
//   plan   = scheduler.Schedule()        which sequences prefill or decode, and how far
//   output = runner.Run(plan)            the model on this step's tokens
//   Postprocess(plan, output)            sample, append, detokenize, stop, free pages
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/parallel/parallel_config.h"
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
  int32_t block_size = 16;
  int64_t kv_cache_bytes = 256ll << 20;  // memory for KV pages per rank
  int32_t num_kv_blocks = 0;             // > 0: exactly this many pages per rank (overrides the bytes)
  SchedulerOptions scheduler;
  uint64_t seed = 0;                     // for requests without a seed of their own
};

struct GenerateRequest {
  std::vector<int32_t> prompt_tokens;
  SamplingParams sampling;
  StoppingCriteria stopping;
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
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const EngineOptions& options);
  ~Engine();

  // Runs the requests to completion, batched together; results in request order. A request
  // that is invalid or can never fit fails alone with its status; the others still run.
  std::vector<GenerateResult> Generate(std::vector<GenerateRequest> requests);

  // Teacher-forced logits at every position of `tokens`: [tokens.size(), vocab_size]. The
  // sequence's pages are freed afterwards.
  absl::StatusOr<std::vector<float>> PromptLogits(std::span<const int32_t> tokens);

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
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
  absl::Status Step();
  void Postprocess(const BatchPlan& plan, const StepOutput& output);
  void AppendToken(Request& request, int32_t token);
  void Finish(Request& request, FinishReason reason);

  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ParallelExecutor> executor_;
  EngineOptions options_;
  Scheduler scheduler_;
  std::map<SeqId, std::unique_ptr<Request>> active_;
  SeqId next_id_ = 1;
  EngineStats stats_;
};

}  // namespace tspserve
