#include "clients/tspload/benchmark.h"

#include <algorithm>
#include <memory>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "clients/tspload/dataset.h"
#include "clients/tspload/metrics.h"
#include "clients/tspload/ready_check.h"
#include "clients/tspload/result_json.h"
#include "clients/tspload/runner.h"
#include "clients/tspload/summary_table.h"
#include "engine/common/status.h"

namespace tspserve::tspload {
namespace {

absl::StatusOr<v1::GetModelInfoResponse> FetchModelInfo(v1::Generation::Stub& stub, const TsploadFlags& flags) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!flags.api_key.empty()) context.AddMetadata("authorization", "Bearer " + flags.api_key);
  v1::GetModelInfoResponse info;
  const grpc::Status status = stub.GetModelInfo(&context, v1::GetModelInfoRequest(), &info);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("GetModelInfo on ", flags.target, ": ", status.error_message()));
  }
  return info;
}

absl::Status CheckContextFits(const std::vector<Prompt>& prompts, int64_t max_context_tokens) {
  for (const Prompt& p : prompts) {
    if (max_context_tokens > 0 && p.prompt_len + p.max_tokens > max_context_tokens) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a prompt of ", p.prompt_len, " tokens plus max_tokens ", p.max_tokens, " exceeds the model's ",
          max_context_tokens, " context tokens: lower --input-len, --prefix-len, --output-len or --range-ratio"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Prompt>> MakePrompts(const TsploadFlags& f, const v1::GetModelInfoResponse& info) {
  if (f.dataset == "jsonl") return LoadJsonlDataset(f.dataset_path, f.num_requests, f.output_len);
  std::vector<int32_t> special(info.eos_token_ids().begin(), info.eos_token_ids().end());
  if (info.has_bos_token_id()) special.push_back(info.bos_token_id());
  ASSIGN_OR_RETURN(TokenIdRange ids, SafeTokenIds(info.vocab_size(), std::move(special)));
  RandomDatasetOptions options;
  options.num_prompts = f.num_requests;
  options.input_len = f.input_len;
  options.output_len = f.output_len;
  options.range_ratio = f.range_ratio;
  options.prefix_len = f.prefix_len;
  options.seed = f.seed;
  ASSIGN_OR_RETURN(std::vector<Prompt> prompts, MakeRandomDataset(options, ids));
  RETURN_IF_ERROR(CheckContextFits(prompts, info.max_context_tokens()));
  return prompts;
}

RequestOptions RequestOptionsOf(const TsploadFlags& f) {
  RequestOptions options;
  options.ignore_eos = f.ignore_eos;
  options.temperature = f.temperature;
  options.top_p = f.top_p;
  options.top_k = f.top_k;
  options.api_key = f.api_key;
  return options;
}

// Sends the first warmup_requests prompts (cycling) under the run's concurrency cap; any failure
// is an error, since a benchmark against a server that fails them would measure nothing useful.
absl::Status WarmUp(const TsploadFlags& f, const std::vector<Prompt>& prompts, Runner& runner) {
  if (f.warmup_requests == 0) return absl::OkStatus();
  std::vector<Prompt> warmup;
  for (int i = 0; i < f.warmup_requests; ++i) warmup.push_back(prompts[static_cast<size_t>(i) % prompts.size()]);
  LoadShape shape;
  shape.max_concurrency = f.shape.max_concurrency;
  ProgressLine progress("warm-up", f.warmup_requests, ProgressLine::StderrIsTty());
  const RunResult result = runner.Run(warmup, shape, f.seed, "tspload-warmup-", &progress);
  for (const RequestRecord& r : result.records) {
    if (!r.success) {
      return absl::UnavailableError(absl::StrCat("a warm-up request failed: ", r.error, ": ", r.error_message));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunBenchmark(const TsploadFlags& flags, std::ostream& out) {
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(flags.target, grpc::InsecureChannelCredentials());
  RETURN_IF_ERROR(WaitUntilServing(channel, flags.target, flags.ready_timeout_s));
  std::unique_ptr<v1::Generation::Stub> stub = v1::Generation::NewStub(channel);
  ASSIGN_OR_RETURN(v1::GetModelInfoResponse info, FetchModelInfo(*stub, flags));
  ASSIGN_OR_RETURN(std::vector<Prompt> prompts, MakePrompts(flags, info));
  Runner runner(stub.get(), RequestOptionsOf(flags));
  RETURN_IF_ERROR(WarmUp(flags, prompts, runner));
  ProgressLine progress("benchmark", flags.num_requests, ProgressLine::StderrIsTty());
  const RunResult result = runner.Run(prompts, flags.shape, flags.seed, "tspload-", &progress);
  const BenchmarkMetrics metrics = ComputeMetrics(result.records, result.duration_s, flags.percentiles, flags.slos);
  PrintSummary(out, flags.shape, metrics);
  if (flags.result_json.empty()) return absl::OkStatus();
  return WriteJsonFile(flags.result_json, ResultJson(flags, info.model_path(), metrics, result.records));
}

}  // namespace tspserve::tspload
