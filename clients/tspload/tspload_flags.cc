#include "clients/tspload/tspload_flags.h"

#include <cmath>

#include <CLI/CLI.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/common/status.h"

namespace tspserve::tspload {
namespace {

void AddLoadFlags(CLI::App& app, TsploadFlags* f) {
  app.add_option("--target", f->target, "server HOST:PORT")->required();
  app.add_option("--api-key", f->api_key, "sent as 'authorization: Bearer KEY'");
  app.add_option("--ready-timeout", f->ready_timeout_s, "seconds to wait for the server to be SERVING");
  app.add_option("--num-requests", f->num_requests, "requests measured")->required();
  app.add_option("--warmup-requests", f->warmup_requests, "requests sent first and not measured");
  app.add_option("--concurrency", f->concurrency, "closed loop: this many clients, each one request at a time");
  app.add_option("--request-rate", f->request_rate, "open loop: requests per second (gamma arrivals)");
  app.add_option("--burstiness", f->burstiness, "open loop: gamma shape; 1 = Poisson, < 1 burstier");
  app.add_option("--max-concurrency", f->max_concurrency, "open loop: requests in flight at most (0 = no cap)");
}

void AddPromptFlags(CLI::App& app, TsploadFlags* f) {
  app.add_option("--dataset", f->dataset, "random, shared-prefix or jsonl");
  app.add_option("--dataset-path", f->dataset_path, "jsonl: a file of {\"prompt\": text, \"max_tokens\": n} lines");
  app.add_option("--input-len", f->input_len, "prompt tokens (random part)");
  app.add_option("--output-len", f->output_len, "max_tokens per request");
  app.add_option("--range-ratio", f->range_ratio, "lengths uniform in [len*(1-X), len*(1+X)], X in [0, 1)");
  app.add_option("--prefix-len", f->prefix_len, "shared-prefix: tokens every prompt starts with");
  app.add_flag("--ignore-eos", f->ignore_eos, "generate exactly max_tokens");
  app.add_option_function<float>("--temperature", [f](const float& v) { f->temperature = v; }, "sampling temperature");
  app.add_option_function<float>("--top-p", [f](const float& v) { f->top_p = v; }, "nucleus sampling mass");
  app.add_option_function<int>("--top-k", [f](const int& v) { f->top_k = v; }, "top-k sampling");
  app.add_option("--seed", f->seed, "seed of the prompts and the arrival times");
}

void AddReportFlags(CLI::App& app, TsploadFlags* f) {
  app.add_option("--result-json", f->result_json, "write the results as JSON (vLLM's field names)");
  app.add_option("--percentiles", f->percentiles_text, "comma-separated percentiles to report");
  app.add_option("--goodput", f->goodput_text, "SLOs for goodput: ttft:MS tpot:MS e2el:MS");
}

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

absl::Status CheckLoadFlags(const TsploadFlags& f) {
  if (f.target.empty()) return Invalid("--target must be HOST:PORT");
  if (f.num_requests < 1) return Invalid(absl::StrCat("--num-requests must be >= 1, got ", f.num_requests));
  if (f.warmup_requests < 0) return Invalid("--warmup-requests must be >= 0");
  if (!(f.ready_timeout_s > 0)) return Invalid("--ready-timeout must be > 0 seconds");
  const bool closed = f.concurrency != 0;
  const bool open = f.request_rate != 0;
  if (closed == open) return Invalid("give exactly one of --concurrency and --request-rate");
  if (closed && f.concurrency < 1) return Invalid("--concurrency must be >= 1");
  if (open && !(f.request_rate > 0)) return Invalid("--request-rate must be > 0");
  if (!(f.burstiness > 0) || std::isinf(f.burstiness)) return Invalid("--burstiness must be > 0");
  if (closed && f.burstiness != 1.0) return Invalid("--burstiness needs --request-rate");
  if (f.max_concurrency < 0) return Invalid("--max-concurrency must be >= 0");
  if (closed && f.max_concurrency != 0) return Invalid("--max-concurrency needs --request-rate (use --concurrency)");
  return absl::OkStatus();
}

absl::Status CheckPromptFlags(const TsploadFlags& f) {
  if (f.input_len < 1) return Invalid("--input-len must be >= 1");
  if (f.output_len < 1) return Invalid("--output-len must be >= 1");
  if (!(f.range_ratio >= 0 && f.range_ratio < 1)) return Invalid("--range-ratio must be in [0, 1)");
  if (f.dataset == "random") {
    if (f.prefix_len != 0) return Invalid("--prefix-len needs --dataset shared-prefix");
  } else if (f.dataset == "shared-prefix") {
    if (f.prefix_len < 1) return Invalid("--dataset shared-prefix needs --prefix-len >= 1");
  } else if (f.dataset == "jsonl") {
    if (f.dataset_path.empty()) return Invalid("--dataset jsonl needs --dataset-path");
  } else {
    return Invalid(absl::StrCat("--dataset must be random, shared-prefix or jsonl, got '", f.dataset, "'"));
  }
  if (f.dataset != "jsonl" && !f.dataset_path.empty()) return Invalid("--dataset-path needs --dataset jsonl");
  if (f.temperature && !(*f.temperature >= 0)) return Invalid("--temperature must be >= 0");
  if (f.top_p && !(*f.top_p > 0 && *f.top_p <= 1)) return Invalid("--top-p must be in (0, 1]");
  return absl::OkStatus();
}

LoadShape ShapeOf(const TsploadFlags& f) {
  LoadShape shape;
  if (f.concurrency > 0) {
    shape.max_concurrency = f.concurrency;
    return shape;
  }
  shape.request_rate = f.request_rate;
  shape.burstiness = f.burstiness;
  shape.max_concurrency = f.max_concurrency;
  return shape;
}

}  // namespace

void AddFlags(CLI::App& app, TsploadFlags* flags) {
  AddLoadFlags(app, flags);
  AddPromptFlags(app, flags);
  AddReportFlags(app, flags);
}

absl::StatusOr<std::vector<double>> ParsePercentiles(const std::string& text) {
  std::vector<double> out;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    double p = 0;
    if (!absl::SimpleAtod(item, &p) || !(p > 0 && p <= 100)) {
      return Invalid(absl::StrCat("--percentiles: '", item, "' is not a percentile in (0, 100]"));
    }
    out.push_back(p);
  }
  return out;
}

absl::StatusOr<GoodputSlos> ParseGoodput(const std::vector<std::string>& items) {
  GoodputSlos slos;
  for (const std::string& item : items) {
    const std::vector<std::string> kv = absl::StrSplit(item, absl::MaxSplits(':', 1));
    double ms = 0;
    if (kv.size() != 2 || !absl::SimpleAtod(kv[1], &ms) || !(ms > 0) || std::isinf(ms)) {
      return Invalid(absl::StrCat("--goodput: '", item, "' is not KEY:MILLISECONDS with a value > 0"));
    }
    if (kv[0] == "ttft") {
      slos.ttft_ms = ms;
    } else if (kv[0] == "tpot") {
      slos.tpot_ms = ms;
    } else if (kv[0] == "e2el") {
      slos.e2el_ms = ms;
    } else {
      return Invalid(absl::StrCat("--goodput: unknown metric '", kv[0], "' (ttft, tpot or e2el)"));
    }
  }
  return slos;
}

absl::Status ResolveFlags(TsploadFlags* flags) {
  RETURN_IF_ERROR(CheckLoadFlags(*flags));
  RETURN_IF_ERROR(CheckPromptFlags(*flags));
  ASSIGN_OR_RETURN(flags->percentiles, ParsePercentiles(flags->percentiles_text));
  ASSIGN_OR_RETURN(flags->slos, ParseGoodput(flags->goodput_text));
  flags->shape = ShapeOf(*flags);
  return absl::OkStatus();
}

}  // namespace tspserve::tspload
