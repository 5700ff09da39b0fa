#include "server/bench/bench_runner.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"

namespace tspserve::bench {
namespace {

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs the plan and returns its wall time, or the step's error.
absl::StatusOr<double> TimedRun(ParallelExecutor& executor, const BatchPlan& plan) {
  const auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(executor.Run(plan).status());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

BenchRunner::BenchRunner(const RunnerOptions& options, const DeviceRates& rates,
                         std::unique_ptr<ParallelExecutor> executor)
    : options_(options), rates_(rates), executor_(std::move(executor)) {}

absl::StatusOr<std::unique_ptr<BenchRunner>> BenchRunner::Create(const RunnerOptions& options,
                                                                 const DeviceRates& rates) {
  ASSIGN_OR_RETURN(std::unique_ptr<ParallelExecutor> executor,
                   ParallelExecutor::Create(options.model_dir, options.config, options.executor));
  return std::unique_ptr<BenchRunner>(new BenchRunner(options, rates, std::move(executor)));
}

int BenchRunner::ElementBytes() {
  return static_cast<int>(DTypeSize(executor_->backend(0).compute_dtype()));
}

std::vector<int32_t> BenchRunner::RandomTokens(int64_t count) {
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  for (int32_t& t : tokens) {
    rng_ = rng_ * 6364136223846793005ull + 1442695040888963407ull;
    t = static_cast<int32_t>((rng_ >> 33) % static_cast<uint64_t>(options_.config.vocab_size));
  }
  return tokens;
}

void BenchRunner::StartCase() {
  executor_->ResetMemoryPeaks();
  executor_->ResetCommStats();
}

void BenchRunner::FinishCase(int32_t timed_runs, CaseRecord& record) {
  for (const RankReport& report : executor_->Reports()) {
    RankMemory m;
    m.weights = report.memory.peak[static_cast<int>(MemoryKind::kWeights)];
    m.kv_cache = int64_t{report.kv_pages_peak} * report.kv_page_bytes;
    m.activations = report.memory.peak[static_cast<int>(MemoryKind::kActivations)];
    m.workspace = report.memory.peak[static_cast<int>(MemoryKind::kWorkspace)];
    m.kv_pool = report.memory.in_use[static_cast<int>(MemoryKind::kKvCache)];
    record.memory.push_back(m);
  }
  record.comm = executor_->TotalCommStats();
  for (int k = 0; k < kNumCollectiveKinds; ++k) {
    record.comm.bytes_sent[k] /= std::max(timed_runs, 1);
    record.comm.calls[k] /= std::max(timed_runs, 1);
    record.comm.seconds[k] /= std::max(timed_runs, 1);
  }
  record.comm.exposed_seconds /= std::max(timed_runs, 1);
  record.floor_seconds = std::max(record.work.flops / rates_.matmul_flops_per_s,
                                  record.work.bytes / rates_.copy_bytes_per_s);
}

CaseRecord BenchRunner::Prefill(int64_t tokens) {
  CaseRecord record;
  record.phase = "prefill";
  record.prompt_tokens = tokens;
  record.work = PrefillWork(options_.config, tokens, options_.executor.parallel.degree, ElementBytes());
  StartCase();
  std::vector<double> times;
  const std::vector<int32_t> prompt = RandomTokens(tokens);
  for (int32_t i = 0; i < options_.warmup + options_.repeat; ++i) {
    if (i == options_.warmup) executor_->ResetCommStats();
    BatchPlan plan;
    plan.sampling.assign(1, options_.sampling);  // on the devices, as requests are served: tokens come back
    plan.seqs.push_back({next_seq_++, 0, static_cast<int32_t>(tokens), prompt, /*wants_logits=*/true});
    std::vector<int32_t> reserved(static_cast<size_t>(executor_->kv_cache().degree()), 0);
    if (!executor_->kv_cache().Fits(plan.seqs[0].seq_id, 0, plan.seqs[0].num_tokens, reserved)) {
      record.error = absl::StrCat("KV cache: ", tokens, " tokens exceed the pool's ",
                                  executor_->kv_cache().capacity_tokens());
      return record;
    }
    absl::StatusOr<double> seconds = TimedRun(*executor_, plan);
    executor_->kv_cache().Free(plan.seqs[0].seq_id);
    if (!seconds.ok()) {
      record.error = std::string(seconds.status().message());
      return record;
    }
    if (i >= options_.warmup) times.push_back(*seconds);
  }
  record.ok = true;
  record.seconds = Median(times);
  record.seconds_min = *std::min_element(times.begin(), times.end());
  record.tokens_per_s = static_cast<double>(tokens) / record.seconds;
  FinishCase(options_.repeat, record);
  return record;
}

CaseRecord BenchRunner::Decode(int64_t batch, int64_t context) {
  CaseRecord record;
  record.phase = "decode";
  record.batch = batch;
  record.context = context;
  record.mixed_contexts = options_.mixed_contexts;
  std::vector<int64_t> contexts(static_cast<size_t>(batch), context);
  if (options_.mixed_contexts) {
    for (int64_t b = 0; b < batch; ++b) contexts[static_cast<size_t>(b)] = std::max<int64_t>(1, context * (b + 1) / batch);
  }
  // The work is linear in each sequence's keys: the mean context gives the batch's.
  const int64_t mean_context = std::accumulate(contexts.begin(), contexts.end(), int64_t{0}) / batch;
  record.work = DecodeWork(options_.config, batch, mean_context, options_.executor.parallel.degree,
                           ElementBytes());
  StartCase();
  // The contexts' pages are reserved, not computed: a decode step's cost does not depend on the
  // cached values, and prefilling batch x context tokens would dominate the benchmark.
  std::vector<SeqId> seqs;
  auto free_all = [&] {
    for (SeqId id : seqs) executor_->kv_cache().Free(id);
  };
  for (int64_t b = 0; b < batch; ++b) {
    const SeqId id = next_seq_++;
    absl::StatusOr<std::vector<TokenSlot>> slots =
        executor_->kv_cache().Append(id, 0, static_cast<int32_t>(contexts[static_cast<size_t>(b)]));
    if (!slots.ok()) {
      record.error = absl::StrCat("KV cache: ", batch, " x ", context, " tokens: ",
                                  std::string(slots.status().message()));
      executor_->kv_cache().Free(id);
      free_all();
      return record;
    }
    seqs.push_back(id);
  }
  std::vector<double> times;
  const int64_t replayed_before = executor_->replayed_decode_steps();
  const int32_t steps = options_.warmup + options_.repeat * options_.decode_steps;
  for (int32_t s = 0; s < steps; ++s) {
    if (s == options_.warmup) executor_->ResetCommStats();
    BatchPlan plan;
    plan.sampling.assign(static_cast<size_t>(batch), options_.sampling);
    for (int64_t b = 0; b < batch; ++b) {  // each row its own race, one output position a step
      plan.sampling[static_cast<size_t>(b)].seed += static_cast<uint64_t>(b);
      plan.sampling[static_cast<size_t>(b)].step = static_cast<uint64_t>(s);
    }
    const std::vector<int32_t> tokens = RandomTokens(batch);
    for (int64_t b = 0; b < batch; ++b) {
      plan.seqs.push_back({seqs[static_cast<size_t>(b)], static_cast<int32_t>(contexts[static_cast<size_t>(b)] + s), 1,
                           {tokens[static_cast<size_t>(b)]}, /*wants_logits=*/true});
    }
    absl::StatusOr<double> seconds = TimedRun(*executor_, plan);
    if (!seconds.ok()) {
      record.error = std::string(seconds.status().message());
      free_all();
      return record;
    }
    if (s >= options_.warmup) times.push_back(*seconds);
  }
  free_all();
  record.ok = true;
  record.replayed_steps = executor_->replayed_decode_steps() - replayed_before;
  record.seconds = Median(times);
  record.seconds_min = *std::min_element(times.begin(), times.end());
  record.tokens_per_s = static_cast<double>(batch) / record.seconds;
  FinishCase(options_.repeat * options_.decode_steps, record);
  return record;
}

int64_t BenchRunner::LongestPrompt(int64_t start, int64_t limit, int32_t refine) {
  const RunnerOptions saved = options_;
  options_.warmup = 0;
  options_.repeat = 1;
  auto fits = [&](int64_t tokens) { return Prefill(tokens).ok; };
  int64_t good = 0, bad = start;
  while (good < limit && fits(bad)) {
    good = bad;
    bad = std::min(2 * bad, limit);
  }
  if (good == limit) refine = 0;
  for (int32_t i = 0; i < refine && good > 0; ++i) {
    const int64_t mid = (good + bad) / 2;
    (fits(mid) ? good : bad) = mid;
  }
  options_ = saved;
  return good;
}

}  // namespace tspserve::bench
