// The end-of-run summary table on stdout, laid out like vLLM's `bench serve`.
#pragma once

#include <ostream>

#include "clients/tspload/arrival_process.h"
#include "clients/tspload/metrics.h"

namespace tspserve::tspload {

void PrintSummary(std::ostream& out, const LoadShape& shape, const BenchmarkMetrics& metrics);

}  // namespace tspserve::tspload
