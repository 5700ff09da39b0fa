#include "server/generate_command.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "engine/engine.h"
#include "server/engine_flags.h"

namespace tspserve {
namespace {

struct GenerateFlags {
  EngineFlags engine;
  std::vector<std::string> prompts;
  SamplingParams sampling;
  StoppingCriteria stopping;
  uint64_t seed = 0;
  bool has_seed = false;
  bool json = false;
  bool raw_prompt = false;
  bool report = false;
};

std::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kDeadlineExceeded: return "deadline_exceeded";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: break;
  }
  return "none";
}

double MiB(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

void PrintStats(const Engine& engine, size_t num_prompts) {
  const EngineStats& s = engine.stats();
  std::cerr << absl::StrFormat(
      "prompts %d | prompt tokens %d | generated tokens %d | steps %d\n"
      "prefill %.3f s (%.1f tok/s) | decode %.3f s (%.1f tok/s)\n",
      num_prompts, s.prompt_tokens, s.generated_tokens, s.steps, s.prefill_seconds,
      s.prefill_seconds > 0 ? static_cast<double>(s.prompt_tokens) / s.prefill_seconds : 0.0,
      s.decode_seconds,
      s.decode_seconds > 0 ? static_cast<double>(s.generated_tokens) / s.decode_seconds : 0.0);
}

// Per rank: what it holds (measured by its allocator) and what it sent, by collective kind.
void PrintReport(const Engine& engine, const ParallelConfig& parallel) {
  std::cerr << absl::StrFormat("parallel %s, degree %d, decode schedule %s\n",
                               std::string(ParallelModeName(parallel.mode)), parallel.degree,
                               std::string(DecodeScheduleName(parallel.decode_schedule)));
  std::cerr << "rank  weights MiB  kv pages peak/total  peak MiB: weights kv_cache activations "
               "workspace total  | sent MiB: broadcast all_gather reduce_scatter all_reduce "
               "all_to_all send_recv\n";
  for (const RankReport& r : engine.Reports()) {
    const auto peak = [&](MemoryKind k) { return MiB(r.memory.peak[static_cast<int>(k)]); };
    std::cerr << absl::StrFormat("%4d  %11.2f  %9d/%-9d  %8.2f %8.2f %11.2f %9.2f %6.2f  | %8.3f %10.3f %14.3f %10.3f %10.3f %9.3f\n",
                                 r.rank, MiB(r.weight_bytes), r.kv_pages_peak, r.kv_pages_total,
                                 peak(MemoryKind::kWeights), peak(MemoryKind::kKvCache),
                                 peak(MemoryKind::kActivations), peak(MemoryKind::kWorkspace),
                                 MiB(r.memory.total_peak), MiB(r.comm.bytes_sent[0]),
                                 MiB(r.comm.bytes_sent[1]), MiB(r.comm.bytes_sent[2]),
                                 MiB(r.comm.bytes_sent[3]), MiB(r.comm.bytes_sent[4]),
                                 MiB(r.comm.bytes_sent[5]));
  }
}

void PrintResult(const std::string& prompt, const GenerateResult& r, bool json) {
  if (json) {
    nlohmann::json line = {{"prompt", prompt},
                           {"completion", r.text},
                           {"token_ids", r.tokens},
                           {"finish_reason", FinishReasonName(r.finish_reason)}};
    if (!r.status.ok()) line["error"] = std::string(r.status.message());
    std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else if (r.status.ok()) {
    std::cout << r.text << "\n";
  }
  if (!r.status.ok()) std::cerr << "generate: " << r.status.message() << "\n";
}

int RunGenerate(GenerateFlags& flags) {
  absl::StatusOr<EngineOptions> options = ParseEngineFlags(flags.engine);
  if (!options.ok()) {
    std::cerr << "generate: " << options.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::string> model_dir = ResolveModelDir(flags.engine);
  if (!model_dir.ok()) {
    std::cerr << "generate: " << model_dir.status().message() << "\n";
    return 1;
  }
  options->model_dir = *model_dir;
  if (flags.has_seed) flags.sampling.seed = flags.seed;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*options);
  if (!engine.ok()) {
    std::cerr << "generate: " << engine.status().message() << "\n";
    return 1;
  }
  const Tokenizer& tokenizer = (*engine)->tokenizer();
  std::vector<GenerateRequest> requests;
  for (const std::string& prompt : flags.prompts) {
    GenerateRequest r;
    r.prompt_tokens = tokenizer.Encode(prompt, /*add_special_tokens=*/!flags.raw_prompt);
    r.sampling = flags.sampling;
    r.stopping = flags.stopping;
    r.stopping.eos_token_ids = (*engine)->config().eos_token_ids;
    requests.push_back(std::move(r));
  }
  const std::vector<GenerateResult> results = (*engine)->Generate(std::move(requests));
  int exit_code = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    PrintResult(flags.prompts[i], results[i], flags.json);
    if (!results[i].status.ok()) exit_code = 1;
  }
  std::cout.flush();
  PrintStats(**engine, results.size());
  if (flags.report) PrintReport(**engine, options->parallel);
  return exit_code;
}

}  // namespace

void AddGenerateCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<GenerateFlags>();
  flags->stopping.max_tokens = 16;
  CLI::App* cmd = app.add_subcommand("generate", "generate completions offline (batched)");
  cmd->add_option("--prompt", flags->prompts, "prompt text; repeat to batch several")->required();
  cmd->add_option("--max-tokens", flags->stopping.max_tokens, "tokens to generate at most");
  cmd->add_option("--min-tokens", flags->stopping.min_tokens, "tokens before EOS or a stop may end it");
  cmd->add_option("--temperature", flags->sampling.temperature, "0 = greedy");
  cmd->add_option("--top-k", flags->sampling.top_k, "keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", flags->sampling.top_p, "nucleus sampling mass, (0, 1]");
  cmd->add_option("--min-p", flags->sampling.min_p, "drop tokens below min_p * max probability");
  cmd->add_option("--repetition-penalty", flags->sampling.repetition_penalty, "> 1 discourages repeats");
  cmd->add_option("--presence-penalty", flags->sampling.presence_penalty, "[-2, 2]");
  cmd->add_option("--frequency-penalty", flags->sampling.frequency_penalty, "[-2, 2]");
  cmd->add_option("--seed", flags->seed, "sampling seed")->each([flags](const std::string&) {
    flags->has_seed = true;
  });
  cmd->add_option("--stop", flags->stopping.stop, "stop string; repeat for several");
  cmd->add_option("--stop-token-id", flags->stopping.stop_token_ids, "stop token id; repeat for several");
  cmd->add_flag("--ignore-eos", flags->stopping.ignore_eos, "keep generating past EOS");
  cmd->add_flag("--include-stop", flags->stopping.include_stop_in_output, "keep the stop string in the output");
  cmd->add_flag("--raw-prompt", flags->raw_prompt, "do not add the BOS token");
  cmd->add_flag("--json", flags->json, "one JSON object per completion");
  cmd->add_flag("--report", flags->report, "print per-rank memory and communication on stderr");
  AddEngineFlags(*cmd, flags->engine);
  cmd->callback([flags, exit_code] { *exit_code = RunGenerate(*flags); });
}

}  // namespace tspserve
