#include "engine/engine.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"

namespace tspserve {

struct Engine::Request {
  Request(const Tokenizer& tokenizer, GenerateRequest r, Sampler request_sampler)
      : params(std::move(r)),
        sampler(std::move(request_sampler)),
        stop(params.stopping),
        detokenizer(tokenizer, /*skip_special_tokens=*/true) {}
  GenerateRequest params;
  Sequence seq;
  Sampler sampler;
  StopChecker stop;
  IncrementalDecoder detokenizer;
  GenerateResult result;
  bool done = false;
};

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options) {
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(options.model_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                   Tokenizer::FromFile(options.model_dir + "/tokenizer.json"));
  ExecutorOptions executor_options;
  executor_options.parallel = options.parallel;
  executor_options.block_size = options.block_size;
  executor_options.kv_cache_bytes = options.kv_cache_bytes;
  executor_options.num_kv_blocks = options.num_kv_blocks;
  ASSIGN_OR_RETURN(std::unique_ptr<ParallelExecutor> executor,
                   ParallelExecutor::Create(options.model_dir, config, executor_options));
  EngineOptions adjusted = options;
  // The sequence-sharded prefill needs every key of a prompt in the step that computes it.
  adjusted.scheduler.whole_prompt_steps = options.parallel.kv_degree() > 1 &&
                                         options.parallel.kv_placement() == KvPlacement::kSequenceSharded;
  return std::unique_ptr<Engine>(
      new Engine(std::move(config), std::move(tokenizer), std::move(executor), adjusted));
}

Engine::Engine(ModelConfig config, std::unique_ptr<Tokenizer> tokenizer,
               std::unique_ptr<ParallelExecutor> executor, const EngineOptions& options)
    : config_(std::move(config)),
      tokenizer_(std::move(tokenizer)),
      executor_(std::move(executor)),
      options_(options),
      scheduler_(options.scheduler, executor_->kv_cache()) {}

Engine::~Engine() = default;

absl::Status Engine::Validate(const GenerateRequest& request) const {
  if (request.prompt_tokens.empty()) return absl::InvalidArgumentError("prompt is empty");
  for (int32_t id : request.prompt_tokens) {
    if (id < 0 || id >= config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token id ", id,
                                                     " is outside the vocabulary [0, ",
                                                     config_.vocab_size, ")"));
    }
  }
  if (request.stopping.max_tokens < 1) {
    return absl::InvalidArgumentError("max_tokens must be at least 1");
  }
  const int64_t total = static_cast<int64_t>(request.prompt_tokens.size()) + request.stopping.max_tokens;
  if (total > config_.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt (", request.prompt_tokens.size(), " tokens) plus max_tokens (",
        request.stopping.max_tokens, ") exceeds the model's context of ",
        config_.max_position_embeddings, " tokens"));
  }
  RETURN_IF_ERROR(ValidateStoppingCriteria(request.stopping));
  return ValidateSamplingParams(request.sampling, static_cast<int32_t>(config_.vocab_size));
}

std::vector<GenerateResult> Engine::Generate(std::vector<GenerateRequest> requests) {
  std::vector<GenerateResult> results(requests.size());
  std::vector<Request*> order(requests.size(), nullptr);
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::Status valid = Validate(requests[i]);
    absl::StatusOr<Sampler> sampler =
        valid.ok() ? Sampler::Create(requests[i].sampling, static_cast<int32_t>(config_.vocab_size))
                   : absl::StatusOr<Sampler>(valid);
    if (!sampler.ok()) {
      results[i].status = sampler.status();
      results[i].finish_reason = FinishReason::kError;
      continue;
    }
    auto request = std::make_unique<Request>(*tokenizer_, std::move(requests[i]), *std::move(sampler));
    request->seq.id = next_id_++;
    request->seq.prompt = request->params.prompt_tokens;
    request->seq.max_tokens = request->params.stopping.max_tokens;
    if (absl::Status s = scheduler_.Add(&request->seq); !s.ok()) {
      results[i].status = s;
      results[i].finish_reason = FinishReason::kError;
      continue;
    }
    stats_.prompt_tokens += static_cast<int64_t>(request->seq.prompt.size());
    order[i] = request.get();
    active_[request->seq.id] = std::move(request);
  }
  while (!scheduler_.empty()) {
    if (absl::Status s = Step(); !s.ok()) {
      for (auto& [id, request] : active_) {
        request->result.status = s;
        Finish(*request, FinishReason::kError);
      }
    }
  }
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i] == nullptr) continue;
    results[i] = std::move(order[i]->result);
    active_.erase(order[i]->seq.id);
  }
  return results;
}

absl::Status Engine::Step() {
  const auto start = std::chrono::steady_clock::now();
  const BatchPlan plan = scheduler_.Schedule();
  if (plan.empty()) {
    return absl::ResourceExhaustedError("the scheduler could not place any waiting request");
  }
  ASSIGN_OR_RETURN(StepOutput output, executor_->Run(plan));
  Postprocess(plan, output);
  ++stats_.steps;
  const bool has_prefill = plan.num_tokens() > static_cast<int32_t>(plan.seqs.size());
  (has_prefill ? stats_.prefill_seconds : stats_.decode_seconds) += SecondsSince(start);
  return absl::OkStatus();
}

void Engine::Postprocess(const BatchPlan& plan, const StepOutput& output) {
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    const ScheduledSeq& entry = plan.seqs[i];
    Request& request = *active_.at(entry.seq_id);
    request.seq.num_computed += entry.num_tokens;
    const int32_t row = output.logit_index[i];
    if (row < 0) continue;
    const std::span<const float> logits(output.logits.data() + row * output.vocab_size,
                                        static_cast<size_t>(output.vocab_size));
    absl::StatusOr<SampledToken> sampled = request.sampler.Sample(
        logits, request.seq.prompt, request.seq.output, request.stop.SuppressedTokenIds());
    if (!sampled.ok()) {
      request.result.status = sampled.status();
      Finish(request, FinishReason::kError);
      continue;
    }
    AppendToken(request, sampled->token);
  }
}

void Engine::AppendToken(Request& request, int32_t token) {
  request.seq.output.push_back(token);
  request.result.tokens.push_back(token);
  ++stats_.generated_tokens;
  const StopUpdate update = request.stop.Append(token, request.detokenizer.Append(token));
  request.result.text += update.text;
  if (update.finish_reason != FinishReason::kNone) Finish(request, update.finish_reason);
}

std::string MatchedStopString(const MatchedStop& matched) {
  if (const auto* text = std::get_if<std::string>(&matched)) return *text;
  if (const auto* id = std::get_if<int32_t>(&matched)) return absl::StrCat(*id);
  return "";
}

// A stop string or token cut the text already; any other end releases what was held back.
void Engine::Finish(Request& request, FinishReason reason) {
  if (request.done) return;
  if (reason != FinishReason::kStop) {
    request.result.text += request.stop.Flush(request.detokenizer.Flush());
  }
  request.done = true;
  request.result.finish_reason = reason;
  request.result.matched_stop = MatchedStopString(request.stop.matched_stop());
  request.result.num_preemptions = request.seq.num_preemptions;
  request.seq.status = SeqStatus::kFinished;
  scheduler_.Remove(request.seq.id);
}

absl::StatusOr<std::vector<float>> Engine::PromptLogits(std::span<const int32_t> tokens) {
  GenerateRequest probe;
  probe.prompt_tokens.assign(tokens.begin(), tokens.end());
  probe.stopping.max_tokens = 1;
  RETURN_IF_ERROR(Validate(probe));
  BatchPlan plan;
  ScheduledSeq& entry = plan.seqs.emplace_back();
  entry.seq_id = next_id_++;
  entry.num_tokens = static_cast<int32_t>(tokens.size());
  entry.token_ids = probe.prompt_tokens;
  entry.wants_logits = true;
  entry.all_logits = true;
  absl::StatusOr<StepOutput> output = executor_->Run(plan);
  executor_->kv_cache().Free(entry.seq_id);
  if (!output.ok()) return output.status();
  return std::move(output->logits);
}

}  // namespace tspserve
