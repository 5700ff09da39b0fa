#include "clients/tspload/summary_table.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/tspload/result_json.h"

namespace tspserve::tspload {
namespace {

constexpr int kWidth = 50;

void Title(std::ostream& out, const std::string& title, char fill) {
  const int pad = std::max(0, kWidth - static_cast<int>(title.size()));
  out << std::string(static_cast<size_t>(pad / 2), fill) << title
      << std::string(static_cast<size_t>(pad - pad / 2), fill) << "\n";
}

void Row(std::ostream& out, const std::string& name, const std::string& value) {
  out << absl::StrFormat("%-40s%10s\n", name + ":", value);
}

std::string Fixed(double v) { return absl::StrFormat("%.2f", v); }

void Section(std::ostream& out, const std::string& title, const std::string& abbr, const Distribution& d) {
  Title(out, title, '-');
  Row(out, absl::StrCat("Mean ", abbr, " (ms)"), Fixed(d.mean));
  Row(out, absl::StrCat("Median ", abbr, " (ms)"), Fixed(d.median));
  Row(out, absl::StrCat("Std ", abbr, " (ms)"), Fixed(d.std));
  for (const auto& [p, value] : d.percentiles) {
    std::string key = PercentileKey(p);
    key[0] = 'P';
    Row(out, absl::StrCat(key, " ", abbr, " (ms)"), Fixed(value));
  }
}

void Totals(std::ostream& out, const LoadShape& shape, const BenchmarkMetrics& m) {
  Row(out, "Successful requests", absl::StrCat(m.completed));
  Row(out, "Failed requests", absl::StrCat(m.failed));
  Row(out, "Request rate configured (req/s)",
      std::isinf(shape.request_rate) ? "inf" : Fixed(shape.request_rate));
  if (shape.max_concurrency > 0) Row(out, "Maximum request concurrency", absl::StrCat(shape.max_concurrency));
  Row(out, "Benchmark duration (s)", Fixed(m.duration_s));
  Row(out, "Total input tokens", absl::StrCat(m.total_input));
  Row(out, "Total generated tokens", absl::StrCat(m.total_output));
  Row(out, "Request throughput (req/s)", Fixed(m.request_throughput));
  if (m.request_goodput) Row(out, "Request goodput (req/s)", Fixed(*m.request_goodput));
  Row(out, "Output token throughput (tok/s)", Fixed(m.output_throughput));
  Row(out, "Total token throughput (tok/s)", Fixed(m.total_token_throughput));
}

}  // namespace

void PrintSummary(std::ostream& out, const LoadShape& shape, const BenchmarkMetrics& metrics) {
  Title(out, " Serving Benchmark Result ", '=');
  Totals(out, shape, metrics);
  Section(out, "Time to First Token", "TTFT", metrics.ttft_ms);
  Section(out, "Time per Output Token (excl. 1st token)", "TPOT", metrics.tpot_ms);
  Section(out, "Inter-token Latency", "ITL", metrics.itl_ms);
  Section(out, "End-to-end Latency", "E2EL", metrics.e2el_ms);
  if (!metrics.errors.empty()) {
    Title(out, "Failed Requests by Code", '-');
    for (const auto& [code, count] : metrics.errors) Row(out, code, absl::StrCat(count));
  }
  Title(out, "", '=');
}

}  // namespace tspserve::tspload
