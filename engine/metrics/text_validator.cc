#include "engine/metrics/text_validator.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/common/status.h"
#include "engine/metrics/text_format.h"

namespace tspserve::metrics {
namespace {

using Labels = std::map<std::string, std::string>;  // name -> unescaped value

struct Sample {
  std::string name;
  Labels labels;
  double value = 0.0;
};

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':';
}

// Go's ParseFloat accepts an optional sign, decimals, exponents, Inf and NaN; so does this.
absl::StatusOr<double> ParseDouble(absl::string_view text) {
  absl::string_view digits = text;
  if (absl::StartsWith(digits, "+")) digits.remove_prefix(1);
  double value = 0.0;
  const char* end = digits.data() + digits.size();
  const std::from_chars_result result = std::from_chars(digits.data(), end, value);
  if (digits.empty() || digits[0] == '+' || result.ec != std::errc() || result.ptr != end) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a number"));
  }
  return value;
}

absl::Status ParseTimestamp(absl::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), end, value);
  if (text.empty() || result.ec != std::errc() || result.ptr != end) {
    return absl::InvalidArgumentError(absl::StrCat("timestamp \"", text, "\" is not an integer"));
  }
  return absl::OkStatus();
}

// Reads one line left to right.
class Cursor {
 public:
  explicit Cursor(absl::string_view text) : rest_(text) {}

  bool done() const { return rest_.empty(); }
  bool Consume(char c) {
    if (rest_.empty() || rest_[0] != c) return false;
    rest_.remove_prefix(1);
    return true;
  }
  // Takes the longest prefix whose characters satisfy `pred`.
  template <typename Pred>
  absl::string_view TakeWhile(Pred pred) {
    size_t n = 0;
    while (n < rest_.size() && pred(rest_[n])) ++n;
    absl::string_view taken = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return taken;
  }
  absl::string_view TakeToken() {
    return TakeWhile([](char c) { return !IsBlank(c); });
  }
  bool SkipBlanks() { return !TakeWhile(IsBlank).empty(); }

  // After an opening quote: the unescaped text up to the closing quote, which is consumed.
  absl::StatusOr<std::string> TakeQuoted() {
    std::string value;
    while (!rest_.empty()) {
      const char c = rest_[0];
      rest_.remove_prefix(1);
      if (c == '"') return value;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (rest_.empty()) break;
      const char escaped = rest_[0];
      rest_.remove_prefix(1);
      if (escaped == 'n') {
        value += '\n';
      } else if (escaped == '\\' || escaped == '"') {
        value += escaped;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid escape \\", std::string(1, escaped)));
      }
    }
    return absl::InvalidArgumentError("unterminated label value");
  }

 private:
  absl::string_view rest_;
};

absl::Status CheckHelpEscapes(absl::string_view help) {
  for (size_t i = 0; i < help.size(); ++i) {
    if (help[i] != '\\') continue;
    if (i + 1 == help.size() || (help[i + 1] != '\\' && help[i + 1] != 'n')) {
      return absl::InvalidArgumentError("invalid escape in HELP text");
    }
    ++i;
  }
  return absl::OkStatus();
}

// After '{': label pairs up to and including '}' (a trailing comma is allowed).
absl::Status ParseLabels(Cursor* cursor, Labels* labels) {
  if (cursor->Consume('}')) return absl::OkStatus();
  while (true) {
    const std::string name(cursor->TakeWhile(IsNameChar));
    if (!IsValidLabelName(name)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid label name \"", name, "\""));
    }
    if (!cursor->Consume('=') || !cursor->Consume('"')) {
      return absl::InvalidArgumentError(absl::StrCat("label ", name, ": expected =\"value\""));
    }
    ASSIGN_OR_RETURN(std::string value, cursor->TakeQuoted());
    if (!labels->emplace(name, std::move(value)).second) {
      return absl::InvalidArgumentError(absl::StrCat("label ", name, " appears twice"));
    }
    if (cursor->Consume('}')) return absl::OkStatus();
    if (!cursor->Consume(',')) {
      return absl::InvalidArgumentError(absl::StrCat("label ", name, ": expected , or }"));
    }
    if (cursor->Consume('}')) return absl::OkStatus();
  }
}

absl::StatusOr<Sample> ParseSample(absl::string_view line) {
  Cursor cursor(line);
  Sample sample;
  sample.name = std::string(cursor.TakeWhile(IsNameChar));
  if (!IsValidMetricName(sample.name)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid metric name in \"", line, "\""));
  }
  if (cursor.Consume('{')) RETURN_IF_ERROR(ParseLabels(&cursor, &sample.labels));
  if (!cursor.SkipBlanks()) {
    return absl::InvalidArgumentError(
        absl::StrCat(sample.name, ": expected a blank before the value"));
  }
  ASSIGN_OR_RETURN(sample.value, ParseDouble(cursor.TakeToken()));
  if (cursor.done()) return sample;
  cursor.SkipBlanks();
  RETURN_IF_ERROR(ParseTimestamp(cursor.TakeToken()));
  if (!cursor.done()) {
    return absl::InvalidArgumentError(absl::StrCat(sample.name, ": text after the timestamp"));
  }
  return sample;
}

// Buckets, sum and count of one histogram series (its labels without `le`).
struct HistogramSeriesState {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count) in line order
  bool has_sum = false;
  bool has_count = false;
  double count = 0.0;
};

absl::Status CheckHistogramSeries(const std::string& family, const std::string& series,
                                  const HistogramSeriesState& state) {
  const std::string where = absl::StrCat("histogram ", family, "{", series, "}");
  if (state.buckets.empty() || !state.has_sum || !state.has_count) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": needs _bucket, _sum and _count"));
  }
  for (size_t i = 1; i < state.buckets.size(); ++i) {
    if (!(state.buckets[i].first > state.buckets[i - 1].first)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": le bounds must increase"));
    }
    if (state.buckets[i].second < state.buckets[i - 1].second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": bucket counts must be cumulative"));
    }
  }
  const auto& [last_le, last_count] = state.buckets.back();
  if (!(last_le > 0 && std::isinf(last_le))) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": the last bucket must be le=\"+Inf\""));
  }
  if (last_count != state.count) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": +Inf bucket differs from _count"));
  }
  return absl::OkStatus();
}

// The state carried from line to line.
class Validator {
 public:
  absl::Status Line(absl::string_view line) {
    if (line.empty()) return absl::OkStatus();
    if (absl::StartsWith(line, "# HELP ")) return Help(line.substr(7));
    if (absl::StartsWith(line, "# TYPE ")) return Type(line.substr(7));
    if (line[0] == '#') return absl::OkStatus();
    ASSIGN_OR_RETURN(Sample sample, ParseSample(line));
    return AddSample(sample);
  }

  absl::Status Finish() { return CloseCurrentFamily(); }

 private:
  // HELP and TYPE must come before the family's first sample.
  absl::Status CheckDeclarable(const std::string& name, absl::string_view what) const {
    if (!IsValidMetricName(name)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": invalid metric name \"", name, "\""));
    }
    if (name == current_ || closed_.count(name) > 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, " ", name, " after its samples"));
    }
    return absl::OkStatus();
  }

  absl::Status Help(absl::string_view rest) {
    Cursor cursor(rest);
    const std::string name(cursor.TakeToken());
    RETURN_IF_ERROR(CheckDeclarable(name, "HELP"));
    if (!helps_.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("second HELP for ", name));
    }
    cursor.Consume(' ');
    return CheckHelpEscapes(cursor.TakeWhile([](char) { return true; }));
  }

  absl::Status Type(absl::string_view rest) {
    Cursor cursor(rest);
    const std::string name(cursor.TakeToken());
    RETURN_IF_ERROR(CheckDeclarable(name, "TYPE"));
    cursor.Consume(' ');
    const std::string type(cursor.TakeWhile([](char) { return true; }));
    static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                 "untyped"};
    if (kTypes.count(type) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("TYPE ", name, ": unknown type \"", type, "\""));
    }
    if (!types_.emplace(name, type).second) {
      return absl::InvalidArgumentError(absl::StrCat("second TYPE for ", name));
    }
    return absl::OkStatus();
  }

  // The declared family a sample name belongs to.
  absl::StatusOr<std::string> FamilyOf(const std::string& sample_name) const {
    auto exact = types_.find(sample_name);
    if (exact != types_.end() && exact->second != "histogram") return sample_name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!absl::EndsWith(sample_name, suffix)) continue;
      const std::string base = sample_name.substr(0, sample_name.size() - strlen(suffix));
      auto it = types_.find(base);
      if (it == types_.end()) continue;
      if (it->second == "histogram" ||
          (it->second == "summary" && strcmp(suffix, "_bucket") != 0)) {
        return base;
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat("sample ", sample_name, " belongs to no family declared by TYPE"));
  }

  absl::Status AddSample(const Sample& sample) {
    ASSIGN_OR_RETURN(std::string family, FamilyOf(sample.name));
    if (family != current_) {
      if (closed_.count(family) > 0) {
        return absl::InvalidArgumentError(absl::StrCat("lines of ", family, " are not contiguous"));
      }
      RETURN_IF_ERROR(CloseCurrentFamily());
      current_ = family;
    }
    const std::string& type = types_.at(family);
    if (type == "counter" && !(sample.value >= 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("counter ", sample.name, " is negative or NaN"));
    }
    if (type == "histogram") return AddHistogramSample(family, sample);
    return absl::OkStatus();
  }

  absl::Status AddHistogramSample(const std::string& family, const Sample& sample) {
    Labels labels = sample.labels;
    auto le = labels.find("le");
    double bound = 0.0;
    const bool is_bucket = sample.name == family + "_bucket";
    if (is_bucket) {
      if (le == labels.end()) return absl::InvalidArgumentError(sample.name + " has no le label");
      ASSIGN_OR_RETURN(bound, ParseDouble(le->second));
      labels.erase(le);
    } else if (le != labels.end()) {
      return absl::InvalidArgumentError(sample.name + " must not have an le label");
    }
    HistogramSeriesState& state = histograms_[absl::StrJoin(labels, ",", absl::PairFormatter("="))];
    if (is_bucket) {
      state.buckets.emplace_back(bound, sample.value);
    } else if (sample.name == family + "_sum") {
      state.has_sum = true;
    } else {
      state.has_count = true;
      state.count = sample.value;
    }
    return absl::OkStatus();
  }

  absl::Status CloseCurrentFamily() {
    for (const auto& [series, state] : histograms_) {
      RETURN_IF_ERROR(CheckHistogramSeries(current_, series, state));
    }
    histograms_.clear();
    if (!current_.empty()) closed_.insert(current_);
    current_.clear();
    return absl::OkStatus();
  }

  std::map<std::string, std::string> types_;  // family -> type word
  std::set<std::string> helps_;
  std::set<std::string> closed_;  // families whose sample lines have ended
  std::string current_;           // family of the latest sample; empty before the first
  std::map<std::string, HistogramSeriesState> histograms_;  // series of `current_`
};

}  // namespace

absl::Status ValidatePrometheusText(absl::string_view text) {
  if (!text.empty() && text.back() != '\n') {
    return absl::InvalidArgumentError("the last line must end with a newline");
  }
  Validator validator;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const absl::Status status = validator.Line(line);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": ", status.message()));
    }
  }
  const absl::Status status = validator.Finish();
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("at the end: ", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace tspserve::metrics
