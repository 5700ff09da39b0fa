#include "clients/tspload/result_json.h"

#include <cmath>
#include <ctime>
#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace tspserve::tspload {
namespace {

using nlohmann::json;

void AddDistribution(const std::string& metric, const Distribution& d, json* out) {
  (*out)[absl::StrCat("mean_", metric, "_ms")] = d.mean;
  (*out)[absl::StrCat("median_", metric, "_ms")] = d.median;
  (*out)[absl::StrCat("std_", metric, "_ms")] = d.std;
  for (const auto& [p, value] : d.percentiles) (*out)[absl::StrCat(PercentileKey(p), "_", metric, "_ms")] = value;
}

void AddPerRequest(const std::vector<RequestRecord>& records, json* out) {
  json input_lens = json::array(), output_lens = json::array(), ttfts = json::array(),
       itls = json::array(), e2els = json::array(), start_times = json::array();
  for (const RequestRecord& r : records) {
    input_lens.push_back(r.input_len);
    output_lens.push_back(r.success ? r.output_len : 0);
    ttfts.push_back(r.success ? r.ttft_s : 0.0);
    itls.push_back(r.success ? r.itls_s : std::vector<double>());
    e2els.push_back(r.success ? r.e2el_s : 0.0);
    start_times.push_back(r.start_s);
  }
  (*out)["input_lens"] = std::move(input_lens);
  (*out)["output_lens"] = std::move(output_lens);
  (*out)["ttfts"] = std::move(ttfts);
  (*out)["itls"] = std::move(itls);
  (*out)["e2els"] = std::move(e2els);
  (*out)["start_times"] = std::move(start_times);
}

json Optional(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

json ArgsJson(const TsploadFlags& f) {
  return {{"target", f.target}, {"num_requests", f.num_requests}, {"warmup_requests", f.warmup_requests},
          {"concurrency", f.concurrency}, {"request_rate", f.request_rate}, {"burstiness", f.burstiness},
          {"max_concurrency", f.max_concurrency}, {"dataset", f.dataset}, {"dataset_path", f.dataset_path},
          {"input_len", f.input_len}, {"output_len", f.output_len}, {"range_ratio", f.range_ratio},
          {"prefix_len", f.prefix_len}, {"ignore_eos", f.ignore_eos},
          {"temperature", f.temperature ? json(*f.temperature) : json(nullptr)},
          {"top_p", f.top_p ? json(*f.top_p) : json(nullptr)},
          {"top_k", f.top_k ? json(*f.top_k) : json(nullptr)}, {"seed", f.seed},
          {"percentiles", f.percentiles}, {"goodput", f.goodput_text}};
}

std::string Now() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y%m%d-%H%M%S", &local);
  return buffer;
}

void AddSettings(const TsploadFlags& f, const std::string& model_id, json* out) {
  (*out)["date"] = Now();
  (*out)["backend"] = "tspserve-grpc";
  (*out)["model_id"] = model_id;
  (*out)["num_prompts"] = f.num_requests;
  // vLLM writes an infinite rate as "inf".
  (*out)["request_rate"] = std::isinf(f.shape.request_rate) ? json("inf") : json(f.shape.request_rate);
  (*out)["burstiness"] = f.shape.burstiness;
  (*out)["max_concurrency"] = f.shape.max_concurrency > 0 ? json(f.shape.max_concurrency) : json(nullptr);
  (*out)["args"] = ArgsJson(f);
}

}  // namespace

std::string PercentileKey(double p) {
  if (p == std::floor(p)) return absl::StrCat("p", static_cast<int64_t>(p));
  return absl::StrCat("p", p);
}

json ResultJson(const TsploadFlags& flags, const std::string& model_id, const BenchmarkMetrics& metrics,
                const std::vector<RequestRecord>& records) {
  json out = json::object();
  AddSettings(flags, model_id, &out);
  out["completed"] = metrics.completed;
  out["failed"] = metrics.failed;
  out["duration"] = metrics.duration_s;
  out["total_input_tokens"] = metrics.total_input;
  out["total_output_tokens"] = metrics.total_output;
  out["request_throughput"] = metrics.request_throughput;
  out["request_goodput"] = Optional(metrics.request_goodput);
  out["output_throughput"] = metrics.output_throughput;
  out["total_token_throughput"] = metrics.total_token_throughput;
  AddDistribution("ttft", metrics.ttft_ms, &out);
  AddDistribution("tpot", metrics.tpot_ms, &out);
  AddDistribution("itl", metrics.itl_ms, &out);
  AddDistribution("e2el", metrics.e2el_ms, &out);
  out["errors"] = metrics.errors;
  AddPerRequest(records, &out);
  return out;
}

absl::Status WriteJsonFile(const std::string& path, const nlohmann::json& json) {
  std::ofstream file(path);
  if (!file) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open for writing"));
  file << json.dump(2) << "\n";
  file.close();
  if (!file) return absl::DataLossError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace tspserve::tspload
