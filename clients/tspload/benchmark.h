// One tspload run end to end: wait for the server, build the prompts, warm up, run the measured
// requests, print the summary and write the JSON result.
#pragma once

#include <ostream>

#include "absl/status/status.h"
#include "clients/tspload/tspload_flags.h"

namespace tspserve::tspload {

// `flags` went through ResolveFlags. The summary table goes to `out`. Errors: the server not
// ready in time, a bad dataset, prompts that cannot fit the model's context, a failed warm-up
// request, an unwritable result file. Failed benchmark requests are results, not errors.
absl::Status RunBenchmark(const TsploadFlags& flags, std::ostream& out);

}  // namespace tspserve::tspload
