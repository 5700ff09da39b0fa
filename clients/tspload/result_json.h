// The benchmark result as JSON with vLLM `bench serve` field names, so dashboards and scripts
// that read vLLM results read tspload's.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/status.h"
#include "clients/tspload/metrics.h"
#include "clients/tspload/tspload_flags.h"

namespace tspserve::tspload {

// "p99", "p99.9": vLLM's key for a percentile (integral ones without a decimal point).
std::string PercentileKey(double p);

// completed, failed, duration, token totals, throughputs, request_goodput (null without SLOs),
// {mean,median,std,pNN}_{ttft,tpot,itl,e2el}_ms, errors by code, the per-request arrays input_lens,
// output_lens, ttfts (s), itls (s, one list per request), and two arrays vLLM lacks: e2els (s)
// and start_times (s since the benchmark began); then the run's
// settings: date, backend, model_id, num_prompts, request_rate, burstiness, max_concurrency, args.
nlohmann::json ResultJson(const TsploadFlags& flags, const std::string& model_id,
                          const BenchmarkMetrics& metrics, const std::vector<RequestRecord>& records);

// Writes `json` (indented) to `path`; errors name the path.
absl::Status WriteJsonFile(const std::string& path, const nlohmann::json& json);

}  // namespace tspserve::tspload
