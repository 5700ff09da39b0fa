#include "clients/tspload/runner.h"

#include <thread>
#include <utility>

namespace tspserve::tspload {

Runner::Runner(v1::Generation::Stub* stub, RequestOptions options)
    : stub_(stub), options_(std::move(options)) {}

void Runner::AcquireSlot(int max_concurrency) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return max_concurrency <= 0 || in_flight_ < max_concurrency; });
  ++in_flight_;
}

void Runner::OnRequestDone(size_t index, RequestRecord record, ProgressLine* progress) {
  std::lock_guard<std::mutex> lock(mu_);
  failed_ += record.success ? 0 : 1;
  records_[index] = std::move(record);
  --in_flight_;
  ++done_;
  progress->Update(done_, failed_);
  changed_.notify_all();
}

RunResult Runner::Run(const std::vector<Prompt>& prompts, const LoadShape& shape, uint64_t seed,
                      const std::string& id_prefix, ProgressLine* progress) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    records_.assign(prompts.size(), RequestRecord());
    in_flight_ = done_ = failed_ = 0;
  }
  const std::vector<double> offsets = ArrivalOffsets(shape, static_cast<int>(prompts.size()), seed);
  const Clock::time_point start = Clock::now();
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(offsets[i])));
    AcquireSlot(shape.max_concurrency);
    StreamCall::Start(stub_, prompts[i], options_, id_prefix + std::to_string(i), start,
                      [this, i, progress](RequestRecord record) { OnRequestDone(i, std::move(record), progress); });
  }
  RunResult result;
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return in_flight_ == 0; });
  result.duration_s = std::chrono::duration<double>(Clock::now() - start).count();
  progress->Finish(done_, failed_);
  result.records = std::move(records_);
  return result;
}

}  // namespace tspserve::tspload
