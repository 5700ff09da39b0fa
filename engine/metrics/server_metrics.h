// The metrics tspserve exports, named like vLLM's under the prefix "tspserve:" so that existing
// dashboards need only the prefix changed, plus TSP-specific ones (per-rank KV use, KV imbalance,
// collective time and bytes). The engine calls the Record/Set/Add methods; the HTTP server renders
// the registry. Every method is thread-safe and cheap (labelled series are resolved once).
//
// Exported families (all times in seconds):
//   gauges      tspserve:num_requests_running, tspserve:num_requests_waiting,
//               tspserve:kv_cache_usage_perc (0..1, pages used over pages on all ranks),
//               tspserve:kv_cache_usage_perc_by_rank{rank="r"} (0..1; a separate name rather than
//                 a labelled series of kv_cache_usage_perc, so sum()/avg() over either never mixes
//                 the total with its parts),
//               tspserve:kv_imbalance (max - min pages in use over ranks)
//   counters    tspserve:prompt_tokens_total, tspserve:generation_tokens_total,
//               tspserve:request_success_total{finished_reason="stop"|"length"|"abort"|"deadline"|"error"},
//               tspserve:num_preemptions_total,
//               tspserve:collective_seconds_total{kind}, tspserve:collective_bytes_total{kind}
//                 (kind: broadcast, all_gather, reduce_scatter, all_reduce, all_to_all, send_recv)
//   histograms  tspserve:time_to_first_token_seconds, tspserve:inter_token_latency_seconds,
//               tspserve:e2e_request_latency_seconds, tspserve:request_queue_time_seconds
// Every finish reason and collective kind is rendered (as 0) from the start, so rate() works before
// the first event of a kind.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/comm/communicator.h"
#include "engine/metrics/metrics.h"
#include "engine/sampling/stop_checker.h"

namespace tspserve::metrics {

// The label value of a finish reason: "stop", "length", "abort" (kCancelled), "deadline"
// (kDeadlineExceeded), "error". CHECK-fails for kNone.
absl::string_view FinishReasonLabel(FinishReason reason);

// The label value of a collective kind: "broadcast", "all_gather", ... (snake case).
absl::string_view CollectiveKindLabel(CollectiveKind kind);

// KV pages of one rank.
struct RankKvUsage {
  int64_t used_pages = 0;
  int64_t total_pages = 0;
};

class ServerMetrics {
 public:
  // Registers every family above in `registry`, which must outlive the result. AlreadyExists when
  // the registry already holds one of the names (e.g. a second ServerMetrics on it).
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Create(Registry* registry);

  // A request ended. `queue_seconds` is arrival to first scheduling; negative when it was never
  // scheduled (then only the latency and the reason are recorded). `reason` must not be kNone.
  void RecordRequestFinished(FinishReason reason, double e2e_seconds, double queue_seconds);
  // Prompt tokens of a newly admitted request (once per request, not again after preemption).
  void RecordPromptTokens(int64_t num_tokens);
  // A request's first generated token, `ttft_seconds` after its arrival; counts one token.
  void RecordFirstToken(double ttft_seconds);
  // A later generated token, `itl_seconds` after the request's previous one; counts one token.
  void RecordToken(double itl_seconds);
  void RecordPreemption();
  // The scheduler's view after a step: requests running and waiting, and the KV pages of every
  // rank (kv_by_rank[r] for rank r; empty leaves the KV gauges at 0).
  void SetLoad(int64_t running, int64_t waiting, std::span<const RankKvUsage> kv_by_rank);
  // Time spent in, and bytes sent by, collectives of one kind (summed over ranks by the caller).
  void AddCollective(CollectiveKind kind, double seconds, int64_t bytes);

 private:
  ServerMetrics() = default;
  absl::Status Register(Registry* registry);
  absl::Status RegisterLabelledCounters(Registry* registry);
  absl::Status RegisterHistograms(Registry* registry);

  static constexpr int kNumFinishLabels = 5;  // stop, length, abort, deadline, error

  GaugeSeries* num_requests_running_ = nullptr;
  GaugeSeries* num_requests_waiting_ = nullptr;
  GaugeSeries* kv_cache_usage_ = nullptr;
  Gauge* kv_cache_usage_by_rank_ = nullptr;
  GaugeSeries* kv_imbalance_ = nullptr;
  CounterSeries* prompt_tokens_ = nullptr;
  CounterSeries* generation_tokens_ = nullptr;
  CounterSeries* num_preemptions_ = nullptr;
  std::array<CounterSeries*, kNumFinishLabels> request_success_{};
  std::array<CounterSeries*, kNumCollectiveKinds> collective_seconds_{};
  std::array<CounterSeries*, kNumCollectiveKinds> collective_bytes_{};
  HistogramSeries* time_to_first_token_ = nullptr;
  HistogramSeries* inter_token_latency_ = nullptr;
  HistogramSeries* e2e_request_latency_ = nullptr;
  HistogramSeries* request_queue_time_ = nullptr;
};

}  // namespace tspserve::metrics
