#include "server/bench/bench_report.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_format.h"

namespace tspserve::bench {
namespace {

double GiB(int64_t bytes) { return static_cast<double>(bytes) / (1ll << 30); }

// The largest per-rank total of a case (the GPU that runs out first).
RankMemory PeakRank(const CaseRecord& c) {
  RankMemory peak;
  for (const RankMemory& m : c.memory) {
    if (m.total() > peak.total()) peak = m;
  }
  return peak;
}

double CommSeconds(const CommStats& s) {
  double total = 0;
  for (double v : s.seconds) total += v;
  return total;
}

// The share of collective time that compute hid (1: all of it; the CPU's blocking calls hide none).
double HiddenFraction(const CommStats& s) {
  const double total = CommSeconds(s);
  return total > 0 ? std::clamp(1.0 - s.exposed_seconds / total, 0.0, 1.0) : 1.0;
}

std::string CaseName(const CaseRecord& c) {
  return c.phase == "prefill" ? absl::StrFormat("prefill %d", c.prompt_tokens)
                              : absl::StrFormat("decode b=%d ctx=%s%d", c.batch, c.mixed_contexts ? "<=" : "", c.context);
}

}  // namespace

void PrintTable(const BenchContext& context, const std::vector<ModeResult>& results, std::ostream& out) {
  out << absl::StrFormat("model %s on %s, commit %s\n", context.model, context.device, context.git_commit);
  out << absl::StrFormat("measured: matmul %.4g TFLOP/s (%s, %d^3), copy %.0f GB/s\n",
                         context.rates.matmul_flops_per_s / 1e12, context.rates.dtype, context.rates.matmul_size,
                         context.rates.copy_bytes_per_s / 1e9);
  out << absl::StrFormat("%-22s %-26s %11s %11s %9s %8s %8s %8s %8s %8s %9s %7s\n", "mode", "case", "time ms",
                         "tok/s", "x floor", "GiB/GPU", "weights", "kv", "act", "work", "comm ms", "hidden");
  for (const ModeResult& r : results) {
    const std::string mode = r.schedule.empty() ? r.mode : r.mode + "/" + r.schedule;
    for (const CaseRecord& c : r.cases) {
      if (!c.ok) {
        out << absl::StrFormat("%-22s %-26s  does not run: %s\n", mode, CaseName(c), c.error);
        continue;
      }
      const RankMemory m = PeakRank(c);
      out << absl::StrFormat("%-22s %-26s %11.3f %11.0f %9.2f %8.2f %8.2f %8.2f %8.2f %8.2f %9.3f %6.0f%%\n", mode,
                             CaseName(c), c.seconds * 1e3, c.tokens_per_s, c.seconds / c.floor_seconds,
                             GiB(m.total()), GiB(m.weights), GiB(m.kv_cache), GiB(m.activations),
                             GiB(m.workspace), CommSeconds(c.comm) * 1e3 / std::max<size_t>(1, c.memory.size()),
                             100 * HiddenFraction(c.comm));
    }
    if (r.longest_prompt >= 0) {
      out << absl::StrFormat("%-22s longest prompt that runs: %d tokens\n", mode, r.longest_prompt);
    }
  }
}

nlohmann::json ToJson(const BenchContext& context, const std::vector<ModeResult>& results) {
  nlohmann::json records = nlohmann::json::array();
  for (const ModeResult& r : results) {
    for (const CaseRecord& c : r.cases) {
      nlohmann::json rec = {
          {"mode", r.mode}, {"schedule", r.schedule}, {"degree", r.degree}, {"tp", r.tp}, {"sp", r.sp},
          {"phase", c.phase}, {"prompt_tokens", c.prompt_tokens}, {"batch", c.batch},
          {"context", c.context}, {"mixed_contexts", c.mixed_contexts}, {"ok", c.ok}, {"error", c.error},
          {"seconds", c.seconds},
          {"seconds_min", c.seconds_min}, {"tokens_per_s", c.tokens_per_s},
          {"flops_per_gpu", c.work.flops}, {"bytes_per_gpu", c.work.bytes},
          {"floor_seconds", c.floor_seconds},
          {"ratio_to_floor", c.ok && c.floor_seconds > 0 ? c.seconds / c.floor_seconds : 0.0}};
      nlohmann::json memory = nlohmann::json::array();
      for (const RankMemory& m : c.memory) {
        memory.push_back({{"weights", m.weights}, {"kv_cache", m.kv_cache}, {"activations", m.activations},
                          {"workspace", m.workspace}, {"total", m.total()}, {"kv_pool", m.kv_pool}});
      }
      rec["memory_per_gpu"] = memory;
      nlohmann::json comm = nlohmann::json::object();
      for (int k = 0; k < kNumCollectiveKinds; ++k) {
        if (c.comm.calls[k] == 0) continue;
        comm[std::string(CollectiveKindName(static_cast<CollectiveKind>(k)))] = {
            {"calls", c.comm.calls[k]}, {"bytes", c.comm.bytes_sent[k]}, {"seconds", c.comm.seconds[k]}};
      }
      rec["comm_summed_over_ranks"] = comm;
      rec["comm_exposed_seconds_summed_over_ranks"] = c.comm.exposed_seconds;
      rec["comm_hidden_fraction"] = HiddenFraction(c.comm);
      rec["replayed_decode_steps"] = c.replayed_steps;
      records.push_back(rec);
    }
  }
  nlohmann::json longest = nlohmann::json::object();
  for (const ModeResult& r : results) {
    if (r.longest_prompt >= 0) longest[r.schedule.empty() ? r.mode : r.mode + "/" + r.schedule] = r.longest_prompt;
  }
  return {{"command", context.command}, {"model", context.model}, {"device", context.device},
          {"git_commit", context.git_commit},
          {"rates", {{"matmul_flops_per_s", context.rates.matmul_flops_per_s},
                     {"matmul_size", context.rates.matmul_size}, {"matmul_dtype", context.rates.dtype},
                     {"copy_bytes_per_s", context.rates.copy_bytes_per_s},
                     {"copy_bytes", context.rates.copy_bytes}}},
          {"longest_prompt", longest}, {"cases", records}};
}

}  // namespace tspserve::bench
