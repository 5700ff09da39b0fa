// A strict checker of Prometheus text exposition format 0.0.4, for tests of anything that serves
// /metrics. Stricter than Prometheus itself where our exporters promise more:
// - every sample belongs to a family declared by a TYPE line before its first sample
//   (name for counter/gauge/untyped; name_bucket/_sum/_count for histogram; name, _sum and
//   _count for summary), and a family's lines are contiguous;
// - names, label names and escapes are valid, a label appears at most once per sample, values and
//   bucket bounds parse as doubles, timestamps as integers;
// - counters are >= 0; each histogram series has increasing `le` bounds ending at +Inf with
//   non-decreasing cumulative counts, and its +Inf bucket equals its _count.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tspserve::metrics {

// OK, or InvalidArgument naming the 1-based line and what is wrong with it.
absl::Status ValidatePrometheusText(absl::string_view text);

}  // namespace tspserve::metrics
