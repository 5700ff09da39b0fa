#include "engine/engine.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"

namespace tspserve {

struct Engine::Request {
  Request(const Tokenizer& tokenizer, GenerateRequest r, Sampler request_sampler,
          OutputCallback callback)
      : params(std::move(r)),
        sampler(std::move(request_sampler)),
        stop(params.stopping),
        detokenizer(tokenizer, /*skip_special_tokens=*/true),
        on_output(std::move(callback)),
        arrival(std::chrono::steady_clock::now()) {}
  GenerateRequest params;
  Sequence seq;
  Sampler sampler;
  StopChecker stop;
  IncrementalDecoder detokenizer;
  OutputCallback on_output;
  std::chrono::steady_clock::time_point arrival;
  double last_token = -1;  // seconds from arrival of the latest token
  RequestOutput pending;  // the delta not yet emitted
  bool done = false;
  std::vector<int32_t> distinct_prompt_ids;  // DistinctSorted(seq.prompt), once a penalty needs it
};

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string MatchedStopString(const MatchedStop& matched) {
  if (const auto* text = std::get_if<std::string>(&matched)) return *text;
  if (const auto* id = std::get_if<int32_t>(&matched)) return absl::StrCat(*id);
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options) {
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(options.model_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                   Tokenizer::FromFile(options.model_dir + "/tokenizer.json"));
  ExecutorOptions executor_options;
  executor_options.parallel = options.parallel;
  executor_options.device = options.device;
  executor_options.gpu_memory_utilization = options.gpu_memory_utilization;
  executor_options.block_size = options.block_size;
  executor_options.kv_cache_bytes = options.kv_cache_bytes;
  executor_options.num_kv_blocks = options.num_kv_blocks;
  executor_options.decode_graphs = options.decode_graphs;
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
      scheduler_(options.scheduler, executor_->kv_cache()) {
  PublishLoad();
  thread_ = std::thread([this] { Loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

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

absl::StatusOr<uint64_t> Engine::Submit(GenerateRequest request, OutputCallback on_output) {
  RETURN_IF_ERROR(Validate(request));
  const int64_t tokens = static_cast<int64_t>(request.prompt_tokens.size()) + request.stopping.max_tokens;
  const int64_t capacity = executor_->kv_cache().capacity_tokens();
  if (tokens > capacity) {
    return absl::FailedPreconditionError(absl::StrCat(
        "prompt (", request.prompt_tokens.size(), " tokens) plus max_tokens (",
        request.stopping.max_tokens, ") needs ", tokens, " KV slots but the cache holds ", capacity,
        " per sequence"));
  }
  ASSIGN_OR_RETURN(Sampler sampler,
                   Sampler::Create(request.sampling, static_cast<int32_t>(config_.vocab_size)));
  auto r = std::make_unique<Request>(*tokenizer_, std::move(request), std::move(sampler),
                                     std::move(on_output));
  r->seq.prompt = r->params.prompt_tokens;
  r->seq.max_tokens = r->params.stopping.max_tokens;
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("the engine is shutting down");
    if (queued_ >= options_.max_queued_requests) {
      return absl::UnavailableError(absl::StrCat("the request queue is full (",
                                                 options_.max_queued_requests, " requests)"));
    }
    id = next_id_++;
    r->seq.id = static_cast<SeqId>(id);
    r->pending.request_id = id;
    ++queued_;
    intake_.push_back(std::move(r));
  }
  wake_.notify_one();
  return id;
}

void Engine::Abort(uint64_t request_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    aborts_.push_back(request_id);
  }
  wake_.notify_one();
}

EngineLoad Engine::GetLoad() const {
  std::lock_guard<std::mutex> lock(mu_);
  return load_;
}

void Engine::RunOnEngineThread(const std::function<void()>& task) {
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back([&] {
      task();
      std::lock_guard<std::mutex> done_lock(done_mu);
      done = true;
      done_cv.notify_one();
    });
  }
  wake_.notify_one();
  std::unique_lock<std::mutex> done_lock(done_mu);
  done_cv.wait(done_lock, [&] { return done; });
}

void Engine::Loop() {
  while (true) {
    std::deque<std::unique_ptr<Request>> intake;
    std::vector<uint64_t> aborts;
    std::vector<std::function<void()>> tasks;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] {
        return stopping_ || !intake_.empty() || !aborts_.empty() || !tasks_.empty() ||
               !scheduler_.empty();
      });
      if (stopping_) break;
      intake.swap(intake_);
      aborts.swap(aborts_);
      tasks.swap(tasks_);
    }
    for (const auto& task : tasks) task();
    for (auto& request : intake) Admit(std::move(request));
    for (uint64_t id : aborts) {
      auto it = active_.find(static_cast<SeqId>(id));
      if (it != active_.end()) Finish(*it->second, FinishReason::kCancelled);
    }
    ExpireDeadlines();
    if (!scheduler_.empty()) {
      if (absl::Status s = Step(); !s.ok()) FailAll(s);
    }
    PublishLoad();
  }
  FailAll(absl::CancelledError("the engine is shutting down"));
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& request : intake_) {  // never admitted: still owed a final output
    request->pending.finished = true;
    request->pending.finish_reason = FinishReason::kCancelled;
    request->on_output(request->pending);
  }
  intake_.clear();
}

void Engine::Admit(std::unique_ptr<Request> request) {
  Request& r = *request;
  active_[r.seq.id] = std::move(request);
  stats_.prompt_tokens += static_cast<int64_t>(r.seq.prompt.size());
  r.pending.prompt_tokens = static_cast<int32_t>(r.seq.prompt.size());
  if (options_.metrics) options_.metrics->RecordPromptTokens(r.pending.prompt_tokens);
  if (absl::Status s = scheduler_.Add(&r.seq); !s.ok()) Finish(r, FinishReason::kError, s);
}

void Engine::ExpireDeadlines() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<Request*> expired;
  for (auto& [id, request] : active_) {
    if (request->params.deadline && now >= *request->params.deadline) expired.push_back(request.get());
  }
  for (Request* r : expired) Finish(*r, FinishReason::kDeadlineExceeded);
}

void Engine::FailAll(const absl::Status& status) {
  std::vector<Request*> all;
  for (auto& [id, request] : active_) all.push_back(request.get());
  for (Request* r : all) {
    Finish(*r, absl::IsCancelled(status) ? FinishReason::kCancelled : FinishReason::kError, status);
  }
}

void Engine::PublishLoad() {
  EngineLoad load;
  load.running = scheduler_.num_running();
  load.waiting = scheduler_.num_waiting();
  const ShardedKvCache& kv = executor_->kv_cache();
  std::vector<metrics::RankKvUsage> usage;
  for (int32_t r = 0; r < kv.degree(); ++r) {
    load.kv_pages_used.push_back(kv.rank(r).num_used_blocks());
    usage.push_back({kv.rank(r).num_used_blocks(), kv.rank(r).num_blocks()});
  }
  load.kv_pages_total = kv.rank(0).num_blocks();
  load.num_preemptions = scheduler_.num_preemptions();
  if (options_.metrics) {
    options_.metrics->SetLoad(load.running, load.waiting, usage);
    for (; preemptions_recorded_ < load.num_preemptions; ++preemptions_recorded_) {
      options_.metrics->RecordPreemption();
    }
    RecordCollectives();
  }
  std::lock_guard<std::mutex> lock(mu_);
  load_ = std::move(load);
}

// Adds the collective time and bytes of all ranks since the last call.
void Engine::RecordCollectives() {
  const CommStats total = executor_->TotalCommStats();
  for (int k = 0; k < kNumCollectiveKinds; ++k) {
    const int64_t bytes = total.bytes_sent[k] - comm_recorded_.bytes_sent[k];
    const double seconds = total.seconds[k] - comm_recorded_.seconds[k];
    if (bytes > 0 || seconds > 0) {
      options_.metrics->AddCollective(static_cast<CollectiveKind>(k), seconds, bytes);
    }
  }
  comm_recorded_ = total;
}

std::vector<GenerateResult> Engine::Generate(std::vector<GenerateRequest> requests) {
  std::vector<GenerateResult> results(requests.size());
  std::mutex mu;
  std::condition_variable cv;
  size_t remaining = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    GenerateResult* result = &results[i];
    absl::StatusOr<uint64_t> id = Submit(std::move(requests[i]), [&, result](const RequestOutput& out) {
      std::lock_guard<std::mutex> lock(mu);
      result->tokens.insert(result->tokens.end(), out.token_ids.begin(), out.token_ids.end());
      result->text += out.text;
      if (!out.finished) return;
      result->finish_reason = out.finish_reason;
      result->matched_stop = out.matched_stop;
      result->status = out.status;
      result->num_preemptions = out.num_preemptions;
      if (--remaining == 0) cv.notify_one();
    });
    std::lock_guard<std::mutex> lock(mu);
    if (id.ok()) {
      ++remaining;
    } else {
      result->status = id.status();
      result->finish_reason = FinishReason::kError;
    }
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return remaining == 0; });
  return results;
}

absl::Status Engine::Step() {
  const auto start = std::chrono::steady_clock::now();
  BatchPlan plan = scheduler_.Schedule();
  if (plan.empty()) {
    return absl::ResourceExhaustedError("the scheduler could not place any waiting request");
  }
  if (!options_.sample_on_host) PlanDeviceSampling(plan);
  for (const ScheduledSeq& entry : plan.seqs) {
    Request& r = *active_.at(entry.seq_id);
    if (r.pending.timings.first_scheduled < 0) r.pending.timings.first_scheduled = SecondsSince(r.arrival);
  }
  ASSIGN_OR_RETURN(StepOutput output, executor_->Run(plan));
  Postprocess(plan, output);
  ++stats_.steps;
  const bool has_prefill = plan.num_tokens() > static_cast<int32_t>(plan.seqs.size());
  (has_prefill ? stats_.prefill_seconds : stats_.decode_seconds) += SecondsSince(start);
  return absl::OkStatus();
}

void Engine::PlanDeviceSampling(BatchPlan& plan) {
  for (const ScheduledSeq& entry : plan.seqs) {
    if (!entry.wants_logits) continue;
    Request& r = *active_.at(entry.seq_id);
    const std::vector<int32_t> banned = r.stop.SuppressedTokenIds();
    std::optional<RowSampling> row = RowSampling::ForDevices(r.sampler.params(), config_.vocab_size, r.sampler.seed(),
                                                             r.seq.output.size(), !banned.empty());
    if (entry.all_logits || !row.has_value()) {
      plan.sampling.clear();
      plan.penalties.clear();
      return;
    }
    if (row->repetition_penalty != 1.0f && r.distinct_prompt_ids.empty()) {
      r.distinct_prompt_ids = DistinctSorted(r.seq.prompt);
    }
    AppendPenaltyEntries(r.sampler.params(), r.distinct_prompt_ids, r.seq.output, banned,
                         static_cast<int32_t>(plan.sampling.size()), plan.penalties);
    plan.sampling.push_back(*row);
  }
}

void Engine::Postprocess(const BatchPlan& plan, const StepOutput& output) {
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    const ScheduledSeq& entry = plan.seqs[i];
    Request& request = *active_.at(entry.seq_id);
    request.seq.num_computed += entry.num_tokens;
    const int32_t row = output.logit_index[i];
    if (row < 0) continue;
    absl::StatusOr<SampledToken> sampled;
    if (!output.sampled.empty()) {
      sampled = output.sampled[static_cast<size_t>(row)];
    } else {
      const std::span<const float> logits(output.logits.data() + row * output.vocab_size,
                                          static_cast<size_t>(output.vocab_size));
      sampled = request.sampler.Sample(logits, request.seq.prompt, request.seq.output,
                                       request.stop.SuppressedTokenIds());
    }
    if (!sampled.ok()) {
      Finish(request, FinishReason::kError, sampled.status());
      continue;
    }
    AppendToken(request, *sampled);
  }
  std::vector<Request*> to_emit;
  for (auto& [id, request] : active_) {
    if (!request->pending.token_ids.empty()) to_emit.push_back(request.get());
  }
  for (Request* r : to_emit) Emit(*r);
}

void Engine::AppendToken(Request& request, const SampledToken& token) {
  request.seq.output.push_back(token.token);
  ++stats_.generated_tokens;
  RequestOutput& out = request.pending;
  const double now = SecondsSince(request.arrival);
  if (out.timings.first_token < 0) out.timings.first_token = now;
  if (options_.metrics) {
    if (request.last_token < 0) {
      options_.metrics->RecordFirstToken(now);
    } else {
      options_.metrics->RecordToken(now - request.last_token);
    }
  }
  request.last_token = now;
  out.token_ids.push_back(token.token);
  if (request.params.sampling.num_logprobs > 0) out.logprobs.push_back(token);
  out.completion_tokens = static_cast<int32_t>(request.seq.output.size());
  const StopUpdate update = request.stop.Append(token.token, request.detokenizer.Append(token.token));
  out.text += update.text;
  if (update.finish_reason != FinishReason::kNone) Finish(request, update.finish_reason);
}

// Sends the pending delta; a finished request is forgotten afterwards.
void Engine::Emit(Request& request) {
  request.on_output(request.pending);
  RequestOutput next;
  next.request_id = request.pending.request_id;
  next.prompt_tokens = request.pending.prompt_tokens;
  next.completion_tokens = request.pending.completion_tokens;
  next.timings = request.pending.timings;
  request.pending = std::move(next);
  if (request.done) {
    active_.erase(request.seq.id);  // destroys `request`
    std::lock_guard<std::mutex> lock(mu_);
    --queued_;
  }
}

// A stop string or token cut the text already; any other end releases what was held back.
void Engine::Finish(Request& request, FinishReason reason, absl::Status status) {
  if (request.done) return;
  RequestOutput& out = request.pending;
  if (reason != FinishReason::kStop) out.text += request.stop.Flush(request.detokenizer.Flush());
  request.done = true;
  out.finished = true;
  out.finish_reason = reason;
  out.status = std::move(status);
  out.matched_stop = MatchedStopString(request.stop.matched_stop());
  out.num_preemptions = request.seq.num_preemptions;
  out.timings.finished = SecondsSince(request.arrival);
  if (options_.metrics) {
    options_.metrics->RecordRequestFinished(reason, out.timings.finished, out.timings.first_scheduled);
  }
  request.seq.status = SeqStatus::kFinished;
  scheduler_.Remove(request.seq.id);
  Emit(request);
}

absl::StatusOr<std::vector<float>> Engine::PromptLogits(std::span<const int32_t> tokens) {
  GenerateRequest probe;
  probe.prompt_tokens.assign(tokens.begin(), tokens.end());
  probe.stopping.max_tokens = 1;
  RETURN_IF_ERROR(Validate(probe));
  absl::StatusOr<std::vector<float>> result;
  RunOnEngineThread([&] {
    BatchPlan plan;
    ScheduledSeq& entry = plan.seqs.emplace_back();
    {
      std::lock_guard<std::mutex> lock(mu_);
      entry.seq_id = static_cast<SeqId>(next_id_++);
    }
    entry.num_tokens = static_cast<int32_t>(tokens.size());
    entry.token_ids = probe.prompt_tokens;
    entry.wants_logits = true;
    entry.all_logits = true;
    absl::StatusOr<StepOutput> output = executor_->Run(plan);
    executor_->kv_cache().Free(entry.seq_id);
    result = output.ok() ? absl::StatusOr<std::vector<float>>(std::move(output->logits))
                         : absl::StatusOr<std::vector<float>>(output.status());
  });
  return result;
}

}  // namespace tspserve
