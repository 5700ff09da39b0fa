#include "server/bench_command.h"

#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/common/status.h"
#include "engine/runtime/rank_devices.h"
#include "engine/sampling/sampling_params.h"
#include "engine/sampling/shard_sample.h"
#include "models/config/model_config.h"
#include "models/synthetic/presets.h"
#include "server/bench/bench_report.h"
#include "server/bench/bench_runner.h"
#include "server/bench/device_rates.h"

#include "git_commit.h"  // generated in the build folder: TSPSERVE_GIT_COMMIT

namespace tspserve {
namespace {

struct BenchFlags {
  std::string model;           // a Hugging Face folder (weights read), or
  std::string preset = "tiny";  // a shape preset (random weights made on the devices)
  std::string device = "auto";
  std::string modes = "tsp,tp";
  std::string schedules = "weight-stationary";
  int32_t degree = 2;
  int32_t tp = 0, sp = 0;  // tp_sp mesh; 0: a square-ish split of --degree
  std::string prompt_lengths = "512";
  std::string batch_sizes = "1";
  std::string contexts = "256";
  int32_t decode_steps = 8;
  bool mixed_contexts = false;
  int32_t warmup = 1;
  int32_t repeat = 3;
  int32_t block_size = 16;
  int64_t kv_cache_mb = 0;
  double gpu_memory_utilization = 0.9;
  int64_t activation_reserve_mb = 0;  // 0: the executor's default
  std::string longest_prompt;         // start length of the search; empty: no search
  std::string longest_prompt_limit = "1M";
  int32_t refine = 2;
  std::string json;
  uint64_t seed = 0;
  bool decode_graphs = false;
  float temperature = 0.0f;  // the decode rows' sampling (0: greedy)
  int32_t top_k = 0;
  float top_p = 1.0f;
  std::string command;
};

// "4096,32K,1M" -> {4096, 32768, 1048576}.
absl::StatusOr<std::vector<int64_t>> ParseSizes(const std::string& text, const char* flag) {
  std::vector<int64_t> sizes;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int64_t scale = 1;
    if (!part.empty() && (part.back() == 'K' || part.back() == 'k')) scale = 1024;
    if (!part.empty() && (part.back() == 'M' || part.back() == 'm')) scale = 1024 * 1024;
    if (scale > 1) part.remove_suffix(1);
    int64_t value = 0;
    if (!absl::SimpleAtoi(part, &value) || value <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": \"", std::string(part), "\" is not a positive size"));
    }
    sizes.push_back(value * scale);
  }
  if (sizes.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, " is empty"));
  return sizes;
}

std::vector<std::string> Names(const std::string& text) {
  return absl::StrSplit(text, ',', absl::SkipWhitespace());
}

struct Plan {
  ModelConfig config;
  std::vector<int64_t> prompts, batches, contexts;
  std::vector<std::string> modes, schedules;
  int64_t search_start = 0;
  int64_t search_limit = 0;
  Device device = Device::kCpu;
};

absl::StatusOr<Plan> MakePlan(const BenchFlags& f) {
  Plan plan;
  if (f.repeat < 1 || f.warmup < 0 || f.decode_steps < 1 || f.degree < 1) {
    return absl::InvalidArgumentError("--repeat, --decode-steps and --degree must be >= 1, --warmup >= 0");
  }
  if (!f.model.empty()) {
    ASSIGN_OR_RETURN(plan.config, LoadModelConfig(f.model));
  } else {
    ASSIGN_OR_RETURN(const ModelPreset preset, FindModelPreset(f.preset));
    plan.config = preset.config;
    if (plan.config.vocab_size == 0) plan.config.vocab_size = preset.tokenizer_vocab_size;
  }
  ASSIGN_OR_RETURN(plan.prompts, ParseSizes(f.prompt_lengths, "--prompt-lengths"));
  ASSIGN_OR_RETURN(plan.batches, ParseSizes(f.batch_sizes, "--batch-sizes"));
  ASSIGN_OR_RETURN(plan.contexts, ParseSizes(f.contexts, "--contexts"));
  if (!f.longest_prompt.empty()) {
    ASSIGN_OR_RETURN(const std::vector<int64_t> start, ParseSizes(f.longest_prompt, "--longest-prompt"));
    plan.search_start = start.at(0);
    ASSIGN_OR_RETURN(const std::vector<int64_t> limit, ParseSizes(f.longest_prompt_limit, "--longest-prompt-limit"));
    plan.search_limit = std::max(limit.at(0), plan.search_start);
  }
  plan.modes = Names(f.modes);
  plan.schedules = Names(f.schedules);
  ASSIGN_OR_RETURN(plan.device, ParseDevice(f.device, f.degree));
  // Shapes stand for long-context models: the RoPE table covers the longest case.
  int64_t longest = 0;
  for (int64_t p : plan.prompts) longest = std::max(longest, p);
  for (int64_t c : plan.contexts) longest = std::max<int64_t>(longest, c + f.warmup + f.repeat * f.decode_steps + 1);
  longest = std::max(longest, plan.search_limit);
  if (f.model.empty()) plan.config.max_position_embeddings = std::max(plan.config.max_position_embeddings, longest);
  return plan;
}

absl::StatusOr<ParallelConfig> MakeParallel(const BenchFlags& f, const std::string& mode_name,
                                            const std::string& schedule_name) {
  ParallelConfig parallel;
  ASSIGN_OR_RETURN(parallel.mode, ParseParallelMode(mode_name));
  ASSIGN_OR_RETURN(parallel.decode_schedule, ParseDecodeSchedule(schedule_name));
  parallel.degree = f.degree;
  if (parallel.mode == ParallelMode::kTpSp) {
    parallel.tp = f.tp > 0 ? f.tp : (f.degree % 2 == 0 ? f.degree / 2 : 1);
    parallel.sp = f.sp > 0 ? f.sp : f.degree / parallel.tp;
  }
  RETURN_IF_ERROR(parallel.Validate());
  return parallel;
}

absl::StatusOr<bench::DeviceRates> MeasureRates(Device device) {
  ASSIGN_OR_RETURN(RankDevices one, MakeRankDevices(device, 1));
  const bool gpu = device == Device::kCuda;
  return bench::MeasureDeviceRates(*one.backends[0], gpu ? 8192 : 384, gpu ? (int64_t{1} << 30) : (int64_t{64} << 20));
}

// The rows' sampling settings, which must be ones the devices sample (no penalties).
absl::StatusOr<RowSampling> DeviceSampling(const BenchFlags& f, const ModelConfig& config) {
  SamplingParams params;
  params.temperature = f.temperature;
  params.top_k = f.top_k;
  params.top_p = f.top_p;
  RETURN_IF_ERROR(ValidateSamplingParams(params, config.vocab_size));
  std::optional<RowSampling> row = RowSampling::ForDevices(params, config.vocab_size, f.seed, 0);
  if (!row.has_value()) return absl::InvalidArgumentError("these sampling settings are not sampled on the devices");
  return *row;
}

absl::StatusOr<bench::ModeResult> RunMode(const BenchFlags& f, const Plan& plan, const bench::DeviceRates& rates,
                                          const std::string& mode, const std::string& schedule) {
  bench::RunnerOptions options;
  options.config = plan.config;
  options.model_dir = f.model;
  ASSIGN_OR_RETURN(options.executor.parallel, MakeParallel(f, mode, schedule));
  options.executor.device = plan.device;
  options.executor.block_size = f.block_size;
  options.executor.kv_cache_bytes = f.kv_cache_mb > 0 ? f.kv_cache_mb << 20
                                    : plan.device == Device::kCuda ? 0 : int64_t{256} << 20;
  options.executor.gpu_memory_utilization = f.gpu_memory_utilization;
  if (f.activation_reserve_mb > 0) options.executor.activation_reserve_bytes = f.activation_reserve_mb << 20;
  options.executor.random_weights = f.model.empty();
  options.executor.random_seed = f.seed;
  options.executor.decode_graphs = f.decode_graphs;
  options.warmup = f.warmup;
  options.repeat = f.repeat;
  options.decode_steps = f.decode_steps;
  options.mixed_contexts = f.mixed_contexts;
  ASSIGN_OR_RETURN(options.sampling, DeviceSampling(f, plan.config));
  ASSIGN_OR_RETURN(std::unique_ptr<bench::BenchRunner> runner, bench::BenchRunner::Create(options, rates));
  bench::ModeResult result;
  result.mode = mode;
  result.schedule = options.executor.parallel.mode == ParallelMode::kTsp ? schedule : "";
  result.degree = options.executor.parallel.degree;
  result.tp = options.executor.parallel.tp;
  result.sp = options.executor.parallel.sp;
  for (int64_t tokens : plan.prompts) {
    result.cases.push_back(runner->Prefill(tokens));
    std::cerr << "  " << mode << " prefill " << tokens << (result.cases.back().ok ? " done" : " failed") << "\n";
  }
  for (int64_t batch : plan.batches) {
    for (int64_t context : plan.contexts) {
      result.cases.push_back(runner->Decode(batch, context));
      std::cerr << "  " << mode << " decode " << batch << "x" << context << "\n";
    }
  }
  if (plan.search_start > 0) result.longest_prompt = runner->LongestPrompt(plan.search_start, plan.search_limit, f.refine);
  return result;
}

absl::Status RunBench(const BenchFlags& f) {
  ASSIGN_OR_RETURN(const Plan plan, MakePlan(f));
  ASSIGN_OR_RETURN(const bench::DeviceRates rates, MeasureRates(plan.device));
  std::vector<bench::ModeResult> results;
  for (const std::string& mode : plan.modes) {
    // Decode schedules only differ under TSP; other modes run once.
    const bool tsp = mode == "tsp";
    for (size_t s = 0; s < (tsp ? plan.schedules.size() : 1); ++s) {
      ASSIGN_OR_RETURN(bench::ModeResult result,
                       RunMode(f, plan, rates, mode, tsp ? plan.schedules[s] : "weight-stationary"));
      results.push_back(std::move(result));
    }
  }
  bench::BenchContext context;
  context.command = f.command;
  context.model = f.model.empty() ? "preset " + f.preset : f.model;
  {
    ASSIGN_OR_RETURN(RankDevices probe, MakeRankDevices(plan.device, 1));
    // "cuda:0 NVIDIA H200" -> "NVIDIA H200": the model, not which GPU answered the probe.
    const std::string name = probe.backends[0]->name();
    const size_t space = name.find(' ');
    const bool indexed = name.rfind("cuda:", 0) == 0 && space != std::string::npos;
    context.device = absl::StrCat(f.degree, " x ", indexed ? name.substr(space + 1) : name);
  }
  context.git_commit = TSPSERVE_GIT_COMMIT;
  context.rates = rates;
  bench::PrintTable(context, results, std::cout);
  if (!f.json.empty()) {
    std::ofstream out(f.json);
    out << bench::ToJson(context, results).dump(2) << "\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", f.json));
  }
  return absl::OkStatus();
}

}  // namespace

void AddBenchCommand(CLI::App& app, const std::string& command_line, int* exit_code) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure memory and speed of the parallel modes against the hardware floor");
  cmd->add_option("--model", flags->model, "Hugging Face model folder (its weights are read)");
  cmd->add_option("--preset", flags->preset, "shape preset with random weights made on the devices (default tiny)");
  cmd->add_option("--device", flags->device, "cpu, cuda or auto");
  cmd->add_option("--modes", flags->modes, "comma-separated: tsp, tp, sp, tp_sp");
  cmd->add_option("--decode-schedules", flags->schedules, "TSP decode schedules: weight-stationary, broadcast");
  cmd->add_option("--degree", flags->degree, "ranks (GPUs)");
  cmd->add_option("--tp", flags->tp, "tp_sp: ranks per tensor group");
  cmd->add_option("--sp", flags->sp, "tp_sp: sequence groups");
  cmd->add_option("--prompt-lengths", flags->prompt_lengths, "prefill cases, e.g. 4K,32K,128K");
  cmd->add_option("--batch-sizes", flags->batch_sizes, "decode batch sizes, e.g. 1,8,64");
  cmd->add_option("--contexts", flags->contexts, "decode context lengths, e.g. 1K,32K");
  cmd->add_option("--decode-steps", flags->decode_steps, "timed decode steps per repeat");
  cmd->add_flag("--mixed-contexts", flags->mixed_contexts,
                "decode batches of mixed lengths: sequence b of B holds context*(b+1)/B tokens");
  cmd->add_option("--warmup", flags->warmup, "untimed runs before each case");
  cmd->add_option("--repeat", flags->repeat, "timed runs per case (the median is reported)");
  cmd->add_option("--block-size", flags->block_size, "tokens per KV page");
  cmd->add_option("--kv-cache-mb", flags->kv_cache_mb, "KV pool per rank, MiB (default: what the GPU has left)");
  cmd->add_option("--gpu-memory-utilization", flags->gpu_memory_utilization, "fraction of each GPU to use");
  cmd->add_option("--activation-reserve-mb", flags->activation_reserve_mb, "GPU memory kept out of the KV pool for steps");
  cmd->add_option("--longest-prompt", flags->longest_prompt, "search the longest prompt that runs, from this length");
  cmd->add_option("--longest-prompt-limit", flags->longest_prompt_limit, "stop that search here (default 1M)");
  cmd->add_option("--refine", flags->refine, "bisection steps of that search");
  cmd->add_option("--json", flags->json, "write the results here");
  cmd->add_option("--seed", flags->seed, "random weights' seed");
  cmd->add_flag("--decode-graphs", flags->decode_graphs, "decode steps as CUDA graphs (as serve --decode-graphs)");
  cmd->add_option("--temperature", flags->temperature, "sampling of every row, on the devices (0: greedy)");
  cmd->add_option("--top-k", flags->top_k, "with --temperature: top-k (0: off)");
  cmd->add_option("--top-p", flags->top_p, "with --temperature: top-p (1: off)");
  flags->command = command_line;
  cmd->callback([flags, exit_code] {
    const absl::Status status = RunBench(*flags);
    if (!status.ok()) std::cerr << "tspserve bench: " << status << "\n";
    *exit_code = status.ok() ? 0 : 1;
  });
}

}  // namespace tspserve
