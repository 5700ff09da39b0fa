// tspload's command line: the flags, their parsing into a load shape, percentiles and SLOs, and
// their validation (every error names the flag).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/tspload/arrival_process.h"
#include "clients/tspload/metrics.h"

namespace CLI {
class App;
}  // namespace CLI

namespace tspserve::tspload {

struct TsploadFlags {
  std::string target;
  std::string api_key;        // sent as "authorization: Bearer KEY"; "" = none
  double ready_timeout_s = 60;
  int num_requests = 0;
  int warmup_requests = 0;
  // Exactly one of concurrency (closed loop) and request_rate (open loop) is set.
  int concurrency = 0;
  double request_rate = 0;
  double burstiness = 1.0;
  int max_concurrency = 0;  // open loop only; 0 = no cap
  std::string dataset = "random";  // random, shared-prefix or jsonl
  std::string dataset_path;
  int input_len = 1024;
  int output_len = 128;
  double range_ratio = 0;
  int prefix_len = 0;
  bool ignore_eos = false;
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int> top_k;
  uint64_t seed = 0;
  std::string result_json;  // "" = no file
  std::string percentiles_text = "50,90,99";
  std::vector<std::string> goodput_text;  // "ttft:MS", "tpot:MS", "e2el:MS"

  // Filled by ResolveFlags.
  LoadShape shape;
  std::vector<double> percentiles;
  GoodputSlos slos;
};

// Registers every flag on `app`, writing into `flags`.
void AddFlags(CLI::App& app, TsploadFlags* flags);

// "50,90,99.9" -> {50, 90, 99.9}; each in (0, 100].
absl::StatusOr<std::vector<double>> ParsePercentiles(const std::string& text);

// {"ttft:200", "e2el:1500"} -> SLOs in milliseconds; keys ttft, tpot, e2el, values > 0.
absl::StatusOr<GoodputSlos> ParseGoodput(const std::vector<std::string>& items);

// Checks the flags' values and combinations, then fills shape, percentiles and slos.
absl::Status ResolveFlags(TsploadFlags* flags);

}  // namespace tspserve::tspload
