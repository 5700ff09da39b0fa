// Pieces of the Prometheus text exposition format 0.0.4 shared by the renderer and the validator:
// name rules, escaping and number spelling.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace tspserve::metrics {

// Metric names match [a-zA-Z_:][a-zA-Z0-9_:]* (':' is allowed, as in
// "tspserve:prompt_tokens_total").
bool IsValidMetricName(absl::string_view name);

// Label names match [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__" (reserved by Prometheus).
bool IsValidLabelName(absl::string_view name);

// A label value as it appears between the quotes: backslash, double quote and newline become
// \\, \" and \n; every other byte is kept.
std::string EscapeLabelValue(absl::string_view value);

// HELP text: backslash and newline become \\ and \n (quotes stay as they are).
std::string EscapeHelp(absl::string_view help);

// A sample value or bucket bound: "+Inf", "-Inf", "NaN", otherwise the shortest decimal that reads
// back to the same double ("3", "0.005", "1.5e+20").
std::string FormatValue(double value);

}  // namespace tspserve::metrics
