#include "clients/tspload/metrics.h"

#include <algorithm>
#include <cmath>

namespace tspserve::tspload {
namespace {

bool MeetsSlos(const RequestRecord& r, const GoodputSlos& slos) {
  if (slos.ttft_ms && r.ttft_s * 1000 > *slos.ttft_ms) return false;
  if (slos.tpot_ms && TimePerOutputToken(r) * 1000 > *slos.tpot_ms) return false;
  if (slos.e2el_ms && r.e2el_s * 1000 > *slos.e2el_ms) return false;
  return true;
}

void SetThroughputs(double duration_s, BenchmarkMetrics* m) {
  m->duration_s = duration_s;
  if (duration_s <= 0) return;
  m->request_throughput = m->completed / duration_s;
  m->output_throughput = static_cast<double>(m->total_output) / duration_s;
  m->total_token_throughput = static_cast<double>(m->total_input + m->total_output) / duration_s;
}

}  // namespace

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, values.size() - 1);
  const double fraction = rank - static_cast<double>(below);
  return values[below] + (values[above] - values[below]) * fraction;
}

double TimePerOutputToken(const RequestRecord& record) {
  if (record.output_len <= 1) return 0;
  return (record.e2el_s - record.ttft_s) / (record.output_len - 1);
}

Distribution Summarize(const std::vector<double>& seconds, const std::vector<double>& percentiles) {
  Distribution d;
  if (!seconds.empty()) {
    double sum = 0;
    for (double s : seconds) sum += s;
    const double mean = sum / static_cast<double>(seconds.size());
    double squares = 0;
    for (double s : seconds) squares += (s - mean) * (s - mean);
    d.mean = mean * 1000;
    d.std = std::sqrt(squares / static_cast<double>(seconds.size())) * 1000;
    d.median = Percentile(seconds, 50) * 1000;
  }
  for (double p : percentiles) d.percentiles.emplace_back(p, Percentile(seconds, p) * 1000);
  return d;
}

BenchmarkMetrics ComputeMetrics(const std::vector<RequestRecord>& records, double duration_s,
                                const std::vector<double>& percentiles, const GoodputSlos& slos) {
  BenchmarkMetrics m;
  std::vector<double> ttfts, tpots, itls, e2els;
  int good = 0;
  for (const RequestRecord& r : records) {
    if (!r.success) {
      ++m.failed;
      ++m.errors[r.error];
      continue;
    }
    ++m.completed;
    m.total_input += r.input_len;
    m.total_output += r.output_len;
    ttfts.push_back(r.ttft_s);
    if (r.output_len > 1) tpots.push_back(TimePerOutputToken(r));
    itls.insert(itls.end(), r.itls_s.begin(), r.itls_s.end());
    e2els.push_back(r.e2el_s);
    good += MeetsSlos(r, slos) ? 1 : 0;
  }
  SetThroughputs(duration_s, &m);
  if (slos.any()) m.request_goodput = duration_s > 0 ? good / duration_s : 0;
  m.ttft_ms = Summarize(ttfts, percentiles);
  m.tpot_ms = Summarize(tpots, percentiles);
  m.itl_ms = Summarize(itls, percentiles);
  m.e2el_ms = Summarize(e2els, percentiles);
  return m;
}

}  // namespace tspserve::tspload
