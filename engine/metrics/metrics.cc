#include "engine/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status.h"
#include "engine/metrics/text_format.h"

namespace tspserve::metrics {

absl::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  LOG(FATAL) << "unknown MetricType " << static_cast<int>(type);
}

void CounterSeries::Increment(double value) {
  CHECK(value >= 0.0) << "counter increment must be >= 0, got " << value;
  value_.fetch_add(value, std::memory_order_relaxed);
}

HistogramSeries::HistogramSeries(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_->size() + 1, 0) {}

void HistogramSeries::Observe(double value) {
  // lower_bound finds the first bound >= value; NaN compares false everywhere and lands in +Inf.
  size_t bucket = bounds_->size();
  if (!std::isnan(value)) {
    bucket = static_cast<size_t>(std::lower_bound(bounds_->begin(), bounds_->end(), value) -
                                 bounds_->begin());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
}

HistogramSnapshot HistogramSeries::Snapshot() const {
  HistogramSnapshot snapshot;
  std::lock_guard<std::mutex> lock(mutex_);
  snapshot.cumulative_counts.reserve(counts_.size());
  for (uint64_t count : counts_) {
    snapshot.count += count;
    snapshot.cumulative_counts.push_back(snapshot.count);
  }
  snapshot.sum = sum_;
  return snapshot;
}

Metric::Metric(MetricType type, std::string name, std::string help,
               std::vector<std::string> label_names)
    : type_(type),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)) {}

void Metric::Render(std::string* out) const {
  absl::StrAppend(out, "# HELP ", name_, " ", EscapeHelp(help_), "\n");
  absl::StrAppend(out, "# TYPE ", name_, " ", MetricTypeName(type_), "\n");
  AppendSamples(out);
}

void Metric::AppendSample(const std::string& sample_name, const LabelValues& values,
                          absl::string_view le, double value, std::string* out) const {
  out->append(sample_name);
  if (!values.empty() || !le.empty()) {
    out->push_back('{');
    for (size_t i = 0; i < values.size(); ++i) {
      absl::StrAppend(out, i > 0 ? "," : "", label_names_[i], "=\"", EscapeLabelValue(values[i]),
                      "\"");
    }
    if (!le.empty()) absl::StrAppend(out, values.empty() ? "" : ",", "le=\"", le, "\"");
    out->push_back('}');
  }
  absl::StrAppend(out, " ", FormatValue(value), "\n");
}

void Metric::CheckArity(const LabelValues& values) const {
  CHECK_EQ(values.size(), label_names_.size()) << name_ << ": wrong number of label values";
}

Counter::Counter(std::string name, std::string help, std::vector<std::string> label_names)
    : Family(MetricType::kCounter, std::move(name), std::move(help), std::move(label_names),
             [] { return std::make_unique<CounterSeries>(); }) {}

double Counter::Value(const LabelValues& values) const {
  const CounterSeries* series = Find(values);
  return series == nullptr ? 0.0 : series->Value();
}

void Counter::AppendSamples(std::string* out) const {
  ForEachSeries([&](const LabelValues& values, const CounterSeries& series) {
    AppendSample(name(), values, "", series.Value(), out);
  });
}

Gauge::Gauge(std::string name, std::string help, std::vector<std::string> label_names)
    : Family(MetricType::kGauge, std::move(name), std::move(help), std::move(label_names),
             [] { return std::make_unique<GaugeSeries>(); }) {}

double Gauge::Value(const LabelValues& values) const {
  const GaugeSeries* series = Find(values);
  return series == nullptr ? 0.0 : series->Value();
}

void Gauge::AppendSamples(std::string* out) const {
  ForEachSeries([&](const LabelValues& values, const GaugeSeries& series) {
    AppendSample(name(), values, "", series.Value(), out);
  });
}

Histogram::Histogram(std::string name, std::string help, std::vector<std::string> label_names,
                     std::shared_ptr<const std::vector<double>> bounds)
    : Family(MetricType::kHistogram, std::move(name), std::move(help), std::move(label_names),
             [bounds] { return std::make_unique<HistogramSeries>(bounds); }),
      bounds_(std::move(bounds)) {}

HistogramSnapshot Histogram::Snapshot(const LabelValues& values) const {
  const HistogramSeries* series = Find(values);
  if (series != nullptr) return series->Snapshot();
  HistogramSnapshot empty;
  empty.cumulative_counts.assign(bounds_->size() + 1, 0);
  return empty;
}

void Histogram::AppendSamples(std::string* out) const {
  const std::string bucket_name = name() + "_bucket";
  const std::string sum_name = name() + "_sum";
  const std::string count_name = name() + "_count";
  ForEachSeries([&](const LabelValues& values, const HistogramSeries& series) {
    const HistogramSnapshot snapshot = series.Snapshot();
    for (size_t i = 0; i < snapshot.cumulative_counts.size(); ++i) {
      const std::string le = i < bounds_->size() ? FormatValue((*bounds_)[i]) : "+Inf";
      AppendSample(bucket_name, values, le, static_cast<double>(snapshot.cumulative_counts[i]),
                   out);
    }
    AppendSample(sum_name, values, "", snapshot.sum, out);
    AppendSample(count_name, values, "", static_cast<double>(snapshot.count), out);
  });
}

namespace {

absl::Status CheckLabelNames(absl::string_view metric, MetricType type,
                             const std::vector<std::string>& label_names) {
  std::set<std::string> seen;
  for (const std::string& label : label_names) {
    if (!IsValidLabelName(label)) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", metric, ": invalid label name \"", label, "\""));
    }
    if (type == MetricType::kHistogram && label == "le") {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", metric, ": label \"le\" is reserved for histogram buckets"));
    }
    if (!seen.insert(label).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", metric, ": duplicate label name \"", label, "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckBounds(absl::string_view metric, const std::vector<double>& bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      return absl::InvalidArgumentError(absl::StrCat("metric ", metric, ": bucket bound ", i,
                                                     " is not finite (+Inf is implicit)"));
    }
    if (i > 0 && !(bounds[i] > bounds[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metric ", metric, ": bucket bounds must increase strictly (bound ", i, ")"));
    }
  }
  return absl::OkStatus();
}

// The sample names a family writes.
std::vector<std::string> SampleNames(absl::string_view name, MetricType type) {
  std::vector<std::string> names = {std::string(name)};
  if (type == MetricType::kHistogram) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      names.push_back(absl::StrCat(name, suffix));
    }
  }
  return names;
}

}  // namespace

absl::Status Registry::Reserve(absl::string_view name, MetricType type,
                               const std::vector<std::string>& label_names) {
  if (!IsValidMetricName(name)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid metric name \"", name, "\""));
  }
  if (type == MetricType::kCounter && !absl::EndsWith(name, "_total")) {
    return absl::InvalidArgumentError(
        absl::StrCat("counter ", name, ": counter names must end in _total"));
  }
  RETURN_IF_ERROR(CheckLabelNames(name, type, label_names));
  const std::vector<std::string> names = SampleNames(name, type);
  for (const std::string& sample_name : names) {
    if (sample_names_.count(sample_name) > 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("metric ", name, ": sample name ", sample_name, " is already registered"));
    }
  }
  sample_names_.insert(names.begin(), names.end());
  return absl::OkStatus();
}

absl::StatusOr<Counter*> Registry::AddCounter(absl::string_view name, absl::string_view help,
                                              std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mutex_);
  RETURN_IF_ERROR(Reserve(name, MetricType::kCounter, label_names));
  std::unique_ptr<Counter> counter(
      new Counter(std::string(name), std::string(help), std::move(label_names)));
  Counter* result = counter.get();
  metrics_.push_back(std::move(counter));
  return result;
}

absl::StatusOr<Gauge*> Registry::AddGauge(absl::string_view name, absl::string_view help,
                                          std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mutex_);
  RETURN_IF_ERROR(Reserve(name, MetricType::kGauge, label_names));
  std::unique_ptr<Gauge> gauge(
      new Gauge(std::string(name), std::string(help), std::move(label_names)));
  Gauge* result = gauge.get();
  metrics_.push_back(std::move(gauge));
  return result;
}

absl::StatusOr<Histogram*> Registry::AddHistogram(absl::string_view name, absl::string_view help,
                                                  std::vector<double> bounds,
                                                  std::vector<std::string> label_names) {
  RETURN_IF_ERROR(CheckBounds(name, bounds));
  std::lock_guard<std::mutex> lock(mutex_);
  RETURN_IF_ERROR(Reserve(name, MetricType::kHistogram, label_names));
  auto shared_bounds = std::make_shared<const std::vector<double>>(std::move(bounds));
  std::unique_ptr<Histogram> histogram(new Histogram(
      std::string(name), std::string(help), std::move(label_names), std::move(shared_bounds)));
  Histogram* result = histogram.get();
  metrics_.push_back(std::move(histogram));
  return result;
}

std::string Registry::RenderPrometheusText() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const std::unique_ptr<Metric>& metric : metrics_) metric->Render(&out);
  return out;
}

}  // namespace tspserve::metrics
