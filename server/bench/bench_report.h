// The output of `tspserve bench`: a table for people and a JSON document for plots, one record per
// case with the machine, the git commit and the exact command line.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/bench/bench_runner.h"
#include "server/bench/device_rates.h"

namespace tspserve::bench {

// The cases of one parallel mode and decode schedule.
struct ModeResult {
  std::string mode;      // tsp, tp, sp, tp_sp
  std::string schedule;  // TSP decode schedule, or "" where it does not apply
  int32_t degree = 1;
  int32_t tp = 1, sp = 1;  // the mesh under tp_sp
  std::vector<CaseRecord> cases;
  int64_t longest_prompt = -1;  // -1: not searched
};

struct BenchContext {
  std::string command;  // the exact arguments
  std::string model;    // preset name or model folder
  std::string device;   // e.g. "4 x NVIDIA H200"
  std::string git_commit;
  DeviceRates rates;
};

void PrintTable(const BenchContext& context, const std::vector<ModeResult>& results, std::ostream& out);
nlohmann::json ToJson(const BenchContext& context, const std::vector<ModeResult>& results);

}  // namespace tspserve::bench
