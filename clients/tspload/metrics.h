// Benchmark metrics exactly as vLLM's `bench serve` computes them, from per-request timelines.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tspserve::tspload {

// What the client saw of one request. Times are seconds; start_s counts from the benchmark's
// start, the others from the request's own send time.
struct RequestRecord {
  bool success = false;
  std::string error;          // failures: the gRPC status code name, e.g. "UNAVAILABLE"
  std::string error_message;  // failures: the status message
  int input_len = 0;          // prompt tokens (the server's count when it reported one)
  int output_len = 0;         // generated tokens
  double start_s = 0;
  double ttft_s = 0;            // to the first chunk carrying tokens
  std::vector<double> itls_s;   // gaps between successive token-carrying chunks
  double e2el_s = 0;            // to the end of the stream
};

// Service-level objectives for goodput, milliseconds; unset = not judged.
struct GoodputSlos {
  std::optional<double> ttft_ms;
  std::optional<double> tpot_ms;
  std::optional<double> e2el_ms;
  bool any() const { return ttft_ms || tpot_ms || e2el_ms; }
};

// Mean, median, population std and chosen percentiles of one metric, milliseconds. Every value
// is 0 when there were no samples (numpy on [0], as vLLM does).
struct Distribution {
  double mean = 0;
  double median = 0;
  double std = 0;
  std::vector<std::pair<double, double>> percentiles;  // (p, value)
};

struct BenchmarkMetrics {
  int completed = 0;
  int failed = 0;
  int64_t total_input = 0;   // over completed requests
  int64_t total_output = 0;  // over completed requests
  double duration_s = 0;
  double request_throughput = 0;      // completed / duration
  double output_throughput = 0;       // output tokens / duration
  double total_token_throughput = 0;  // (input + output tokens) / duration
  std::optional<double> request_goodput;  // requests meeting every SLO / duration; set with SLOs
  Distribution ttft_ms;
  Distribution tpot_ms;  // requests with more than one output token only
  Distribution itl_ms;   // every gap of every completed request
  Distribution e2el_ms;
  std::map<std::string, int> errors;  // failed requests by status code name
};

// numpy.percentile(values, p) with linear interpolation; p in [0, 100]. 0 for no values.
double Percentile(std::vector<double> values, double p);

// TPOT = (e2el - ttft) / (output_len - 1), or 0 when output_len <= 1 (vLLM's goodput rule).
double TimePerOutputToken(const RequestRecord& record);

// Distribution of `seconds`, reported in milliseconds.
Distribution Summarize(const std::vector<double>& seconds, const std::vector<double>& percentiles);

// Everything above over `records`; duration_s > 0 is the benchmark's wall time.
BenchmarkMetrics ComputeMetrics(const std::vector<RequestRecord>& records, double duration_s,
                                const std::vector<double>& percentiles, const GoodputSlos& slos);

}  // namespace tspserve::tspload
