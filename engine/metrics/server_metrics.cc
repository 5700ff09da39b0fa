#include "engine/metrics/server_metrics.h"

#include <algorithm>
#include <string>
#include <vector>

#include "engine/common/check.h"
#include "engine/common/status.h"

namespace tspserve::metrics {
namespace {

// Bucket bounds in seconds: fine at the low end where a healthy server lives, reaching far enough
// that a stuck request still lands in a finite bucket.
const std::vector<double>& TimeToFirstTokenBuckets() {
  static const auto* buckets = new std::vector<double>{
      0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08,  0.1,   0.25,  0.5,    0.75,  1.0,
      2.5,   5.0,   10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0, 2560.0};
  return *buckets;
}

const std::vector<double>& InterTokenLatencyBuckets() {
  static const auto* buckets = new std::vector<double>{
      0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1,
      0.15,  0.2,    0.3,   0.4,    0.5,  0.75,  1.0,  2.5,  5.0,  10.0, 20.0,  80.0};
  return *buckets;
}

const std::vector<double>& RequestLatencyBuckets() {
  static const auto* buckets = new std::vector<double>{
      0.01, 0.05, 0.1,  0.3,  0.5,  0.8,   1.0,   1.5,   2.0,   2.5,    5.0,   10.0,
      15.0, 20.0, 30.0, 40.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
  return *buckets;
}

constexpr FinishReason kFinishReasons[] = {FinishReason::kStop, FinishReason::kLength,
                                           FinishReason::kCancelled,
                                           FinishReason::kDeadlineExceeded, FinishReason::kError};

int FinishIndex(FinishReason reason) {
  for (int i = 0; i < static_cast<int>(std::size(kFinishReasons)); ++i) {
    if (kFinishReasons[i] == reason) return i;
  }
  LOG(FATAL) << "no finish-reason label for FinishReason " << static_cast<int>(reason);
}

}  // namespace

absl::string_view FinishReasonLabel(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "abort";
    case FinishReason::kDeadlineExceeded:
      return "deadline";
    case FinishReason::kError:
      return "error";
    case FinishReason::kNone:
      break;
  }
  LOG(FATAL) << "no finish-reason label for FinishReason " << static_cast<int>(reason);
}

absl::string_view CollectiveKindLabel(CollectiveKind kind) {
  switch (kind) {
    case CollectiveKind::kBroadcast:
      return "broadcast";
    case CollectiveKind::kAllGather:
      return "all_gather";
    case CollectiveKind::kReduceScatter:
      return "reduce_scatter";
    case CollectiveKind::kAllReduce:
      return "all_reduce";
    case CollectiveKind::kAllToAll:
      return "all_to_all";
    case CollectiveKind::kSendRecv:
      return "send_recv";
  }
  LOG(FATAL) << "unknown CollectiveKind " << static_cast<int>(kind);
}

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create(Registry* registry) {
  CHECK(registry != nullptr);
  std::unique_ptr<ServerMetrics> metrics(new ServerMetrics());
  RETURN_IF_ERROR(metrics->Register(registry));
  return metrics;
}

absl::Status ServerMetrics::Register(Registry* registry) {
  ASSIGN_OR_RETURN(Gauge * running, registry->AddGauge("tspserve:num_requests_running",
                                                       "Requests in the running batch."));
  ASSIGN_OR_RETURN(Gauge * waiting, registry->AddGauge("tspserve:num_requests_waiting",
                                                       "Requests waiting to be scheduled."));
  ASSIGN_OR_RETURN(Gauge * usage,
                   registry->AddGauge("tspserve:kv_cache_usage_perc",
                                      "Fraction of KV cache pages in use over all ranks (0..1)."));
  ASSIGN_OR_RETURN(
      kv_cache_usage_by_rank_,
      registry->AddGauge("tspserve:kv_cache_usage_perc_by_rank",
                         "Fraction of one rank's KV cache pages in use (0..1).", {"rank"}));
  ASSIGN_OR_RETURN(Gauge * imbalance,
                   registry->AddGauge("tspserve:kv_imbalance",
                                      "Most minus fewest KV pages in use on any rank."));
  ASSIGN_OR_RETURN(Counter * prompt, registry->AddCounter("tspserve:prompt_tokens_total",
                                                          "Prompt tokens of admitted requests."));
  ASSIGN_OR_RETURN(Counter * generation,
                   registry->AddCounter("tspserve:generation_tokens_total", "Generated tokens."));
  num_requests_running_ = &running->WithLabels({});
  num_requests_waiting_ = &waiting->WithLabels({});
  kv_cache_usage_ = &usage->WithLabels({});
  kv_imbalance_ = &imbalance->WithLabels({});
  prompt_tokens_ = &prompt->WithLabels({});
  generation_tokens_ = &generation->WithLabels({});
  RETURN_IF_ERROR(RegisterLabelledCounters(registry));
  return RegisterHistograms(registry);
}

absl::Status ServerMetrics::RegisterLabelledCounters(Registry* registry) {
  ASSIGN_OR_RETURN(Counter * success, registry->AddCounter("tspserve:request_success_total",
                                                           "Finished requests by finish reason.",
                                                           {"finished_reason"}));
  ASSIGN_OR_RETURN(Counter * preemptions,
                   registry->AddCounter("tspserve:num_preemptions_total",
                                        "Requests preempted (to be recomputed)."));
  ASSIGN_OR_RETURN(
      Counter * seconds,
      registry->AddCounter("tspserve:collective_seconds_total",
                           "Seconds spent in collectives, summed over ranks.", {"kind"}));
  ASSIGN_OR_RETURN(Counter * bytes,
                   registry->AddCounter(
                       "tspserve:collective_bytes_total",
                       "Bytes sent by collectives to other ranks, summed over ranks.", {"kind"}));
  num_preemptions_ = &preemptions->WithLabels({});
  for (int i = 0; i < kNumFinishLabels; ++i) {
    request_success_[i] = &success->WithLabels({std::string(FinishReasonLabel(kFinishReasons[i]))});
  }
  for (int i = 0; i < kNumCollectiveKinds; ++i) {
    const std::string kind(CollectiveKindLabel(static_cast<CollectiveKind>(i)));
    collective_seconds_[i] = &seconds->WithLabels({kind});
    collective_bytes_[i] = &bytes->WithLabels({kind});
  }
  return absl::OkStatus();
}

absl::Status ServerMetrics::RegisterHistograms(Registry* registry) {
  ASSIGN_OR_RETURN(Histogram * ttft,
                   registry->AddHistogram("tspserve:time_to_first_token_seconds",
                                          "Seconds from arrival to the first generated token.",
                                          TimeToFirstTokenBuckets()));
  ASSIGN_OR_RETURN(Histogram * itl,
                   registry->AddHistogram("tspserve:inter_token_latency_seconds",
                                          "Seconds between consecutive generated tokens.",
                                          InterTokenLatencyBuckets()));
  ASSIGN_OR_RETURN(Histogram * e2e, registry->AddHistogram("tspserve:e2e_request_latency_seconds",
                                                           "Seconds from arrival to finish.",
                                                           RequestLatencyBuckets()));
  ASSIGN_OR_RETURN(
      Histogram * queue,
      registry->AddHistogram("tspserve:request_queue_time_seconds",
                             "Seconds from arrival to first scheduling.", RequestLatencyBuckets()));
  time_to_first_token_ = &ttft->WithLabels({});
  inter_token_latency_ = &itl->WithLabels({});
  e2e_request_latency_ = &e2e->WithLabels({});
  request_queue_time_ = &queue->WithLabels({});
  return absl::OkStatus();
}

void ServerMetrics::RecordRequestFinished(FinishReason reason, double e2e_seconds,
                                          double queue_seconds) {
  request_success_[FinishIndex(reason)]->Increment();
  e2e_request_latency_->Observe(e2e_seconds);
  if (queue_seconds >= 0) request_queue_time_->Observe(queue_seconds);
}

void ServerMetrics::RecordPromptTokens(int64_t num_tokens) {
  prompt_tokens_->Increment(static_cast<double>(num_tokens));
}

void ServerMetrics::RecordFirstToken(double ttft_seconds) {
  generation_tokens_->Increment();
  time_to_first_token_->Observe(ttft_seconds);
}

void ServerMetrics::RecordToken(double itl_seconds) {
  generation_tokens_->Increment();
  inter_token_latency_->Observe(itl_seconds);
}

void ServerMetrics::RecordPreemption() { num_preemptions_->Increment(); }

void ServerMetrics::SetLoad(int64_t running, int64_t waiting,
                            std::span<const RankKvUsage> kv_by_rank) {
  num_requests_running_->Set(static_cast<double>(running));
  num_requests_waiting_->Set(static_cast<double>(waiting));
  int64_t used = 0;
  int64_t total = 0;
  int64_t most = 0;
  int64_t fewest = 0;
  for (size_t r = 0; r < kv_by_rank.size(); ++r) {
    const RankKvUsage& rank = kv_by_rank[r];
    used += rank.used_pages;
    total += rank.total_pages;
    most = r == 0 ? rank.used_pages : std::max(most, rank.used_pages);
    fewest = r == 0 ? rank.used_pages : std::min(fewest, rank.used_pages);
    const double fraction =
        rank.total_pages > 0 ? static_cast<double>(rank.used_pages) / rank.total_pages : 0.0;
    kv_cache_usage_by_rank_->Set({std::to_string(r)}, fraction);
  }
  kv_cache_usage_->Set(total > 0 ? static_cast<double>(used) / total : 0.0);
  kv_imbalance_->Set(static_cast<double>(most - fewest));
}

void ServerMetrics::AddCollective(CollectiveKind kind, double seconds, int64_t bytes) {
  const int i = static_cast<int>(kind);
  CHECK(i >= 0 && i < kNumCollectiveKinds) << "collective kind " << i;
  collective_seconds_[i]->Increment(seconds);
  collective_bytes_[i]->Increment(static_cast<double>(bytes));
}

}  // namespace tspserve::metrics
