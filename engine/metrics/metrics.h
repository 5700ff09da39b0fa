// A small thread-safe metrics registry rendered in the Prometheus text exposition format 0.0.4.
//
// A metric (Counter, Gauge, Histogram) is a family: a name, help text, label names, and one series
// per distinct tuple of label values. Series are created on first use and never removed; a
// reference to one stays valid as long as the registry. Updating a counter or gauge series is a
// lock-free atomic; a histogram series takes its own uncontended mutex so that a scrape sees its
// buckets, sum and count from one instant. Hot paths resolve their labelled series once with
// WithLabels() and keep the reference.
//
// Label arity is a programming error: passing a number of label values different from the number
// of label names CHECK-fails. Everything a caller can get wrong at registration (names, buckets,
// duplicates) returns an absl::Status from Registry.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/common/check.h"

namespace tspserve::metrics {

// The values of one series' labels, in the order of the metric's label names.
using LabelValues = std::vector<std::string>;

enum class MetricType { kCounter, kGauge, kHistogram };

// "counter", "gauge", "histogram": the word on the TYPE line.
absl::string_view MetricTypeName(MetricType type);

// One counter series: a double that only goes up.
class CounterSeries {
 public:
  // `value` must be >= 0 and not NaN (CHECK): counters never go down.
  void Increment(double value = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// One gauge series: a double that is set or moved either way.
class GaugeSeries {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// One histogram series read at one instant.
struct HistogramSnapshot {
  // [bounds.size() + 1]: observations <= each bound, cumulative; the last entry is the +Inf bucket
  // and equals `count`.
  std::vector<uint64_t> cumulative_counts;
  double sum = 0.0;
  uint64_t count = 0;
};

// One histogram series over fixed upper bounds (shared by every series of the family).
class HistogramSeries {
 public:
  explicit HistogramSeries(std::shared_ptr<const std::vector<double>> bounds);

  // Counts `value` in the first bucket whose bound is >= value (the +Inf bucket when none is, and
  // for NaN) and adds it to the sum.
  void Observe(double value);
  HistogramSnapshot Snapshot() const;

 private:
  const std::shared_ptr<const std::vector<double>> bounds_;
  mutable std::mutex mutex_;
  std::vector<uint64_t> counts_;  // [bounds_->size() + 1], per bucket (not cumulative)
  double sum_ = 0.0;
};

// What every metric family shares: identity and rendering.
class Metric {
 public:
  virtual ~Metric() = default;
  Metric(const Metric&) = delete;
  Metric& operator=(const Metric&) = delete;

  MetricType type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends the family's HELP and TYPE lines, then one line per sample, series in ascending order
  // of their label values.
  void Render(std::string* out) const;

 protected:
  Metric(MetricType type, std::string name, std::string help, std::vector<std::string> label_names);

  // Appends `sample_name{labels} value\n`; `le`, when not empty, is appended as the last label.
  void AppendSample(const std::string& sample_name, const LabelValues& values, absl::string_view le,
                    double value, std::string* out) const;
  virtual void AppendSamples(std::string* out) const = 0;

  // CHECKs that `values` has one entry per label name.
  void CheckArity(const LabelValues& values) const;

 private:
  const MetricType type_;
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
};

// The series of one family, keyed by label values. An unlabelled family has exactly one series
// (empty label values), created with the family so that it renders as 0 before any update.
template <typename Series>
class Family : public Metric {
 public:
  // The series for `values`, created on first use. The reference stays valid for the family's life.
  Series& WithLabels(const LabelValues& values) {
    CheckArity(values);
    std::lock_guard<std::mutex> lock(mutex_);
    std::unique_ptr<Series>& series = series_[values];
    if (series == nullptr) series = make_series_();
    return *series;
  }

 protected:
  using SeriesFactory = std::function<std::unique_ptr<Series>()>;

  Family(MetricType type, std::string name, std::string help, std::vector<std::string> label_names,
         SeriesFactory make_series)
      : Metric(type, std::move(name), std::move(help), std::move(label_names)),
        make_series_(std::move(make_series)) {
    if (this->label_names().empty()) unlabelled_ = &WithLabels({});
  }

  // The only series of an unlabelled family (CHECK-fails for a labelled one).
  Series& Unlabelled() const {
    CHECK(unlabelled_ != nullptr) << name() << " has labels; pass their values";
    return *unlabelled_;
  }

  // The series for `values`, or nullptr when it was never used.
  const Series* Find(const LabelValues& values) const {
    CheckArity(values);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = series_.find(values);
    return it == series_.end() ? nullptr : it->second.get();
  }

  // Calls fn(values, series) for every series in ascending order of label values.
  template <typename Fn>
  void ForEachSeries(Fn fn) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [values, series] : series_) fn(values, *series);
  }

 private:
  const SeriesFactory make_series_;
  mutable std::mutex mutex_;
  std::map<LabelValues, std::unique_ptr<Series>> series_;
  Series* unlabelled_ = nullptr;
};

// A monotonically increasing count. Its name ends in "_total".
class Counter final : public Family<CounterSeries> {
 public:
  void Increment(double value = 1.0) { Unlabelled().Increment(value); }
  void Increment(const LabelValues& values, double value = 1.0) {
    WithLabels(values).Increment(value);
  }
  double Value() const { return Unlabelled().Value(); }
  // 0 when the series was never used.
  double Value(const LabelValues& values) const;

 private:
  friend class Registry;
  Counter(std::string name, std::string help, std::vector<std::string> label_names);
  void AppendSamples(std::string* out) const override;
};

// A value that goes up and down.
class Gauge final : public Family<GaugeSeries> {
 public:
  void Set(double value) { Unlabelled().Set(value); }
  void Set(const LabelValues& values, double value) { WithLabels(values).Set(value); }
  void Add(double delta) { Unlabelled().Add(delta); }
  void Add(const LabelValues& values, double delta) { WithLabels(values).Add(delta); }
  double Value() const { return Unlabelled().Value(); }
  // 0 when the series was never used.
  double Value(const LabelValues& values) const;

 private:
  friend class Registry;
  Gauge(std::string name, std::string help, std::vector<std::string> label_names);
  void AppendSamples(std::string* out) const override;
};

// Observations counted in fixed buckets, rendered as cumulative name_bucket{le="..."} samples (the
// last one le="+Inf"), name_sum and name_count.
class Histogram final : public Family<HistogramSeries> {
 public:
  void Observe(double value) { Unlabelled().Observe(value); }
  void Observe(const LabelValues& values, double value) { WithLabels(values).Observe(value); }
  HistogramSnapshot Snapshot() const { return Unlabelled().Snapshot(); }
  // All-zero (with the right bucket count) when the series was never used.
  HistogramSnapshot Snapshot(const LabelValues& values) const;
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  friend class Registry;
  Histogram(std::string name, std::string help, std::vector<std::string> label_names,
            std::shared_ptr<const std::vector<double>> bounds);
  void AppendSamples(std::string* out) const override;

  const std::shared_ptr<const std::vector<double>> bounds_;
};

// Owns metrics and renders them, in registration order. Thread-safe.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The returned pointers stay valid for the registry's life. Errors (InvalidArgument, or
  // AlreadyExists when a name or one of a histogram's _bucket/_sum/_count names is taken) name
  // the metric. Counter names must end in "_total". Label names must be valid, distinct, and
  // (for histograms) not "le".
  absl::StatusOr<Counter*> AddCounter(absl::string_view name, absl::string_view help,
                                      std::vector<std::string> label_names = {});
  absl::StatusOr<Gauge*> AddGauge(absl::string_view name, absl::string_view help,
                                  std::vector<std::string> label_names = {});
  // `bounds`: finite bucket upper bounds, strictly increasing, possibly empty; +Inf is implicit.
  absl::StatusOr<Histogram*> AddHistogram(absl::string_view name, absl::string_view help,
                                          std::vector<double> bounds,
                                          std::vector<std::string> label_names = {});

  // Every metric in the text exposition format 0.0.4 (HELP, TYPE, samples; no timestamps).
  std::string RenderPrometheusText() const;

 private:
  // Validates a new family and reserves the sample names it will write.
  absl::Status Reserve(absl::string_view name, MetricType type,
                       const std::vector<std::string>& label_names);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Metric>> metrics_;
  std::set<std::string, std::less<>> sample_names_;
};

}  // namespace tspserve::metrics
