#include "engine/runtime/rank_workers.h"

namespace tspserve {

RankWorkers::RankWorkers(int num_ranks) {
  for (int r = 0; r < num_ranks; ++r) threads_.emplace_back([this, r] { Loop(r); });
}

RankWorkers::~RankWorkers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void RankWorkers::RunOnAll(const std::function<void(int)>& fn) {
  std::unique_lock<std::mutex> lock(mu_);
  task_ = &fn;
  pending_ = size();
  ++generation_;
  work_ready_.notify_all();
  work_done_.wait(lock, [this] { return pending_ == 0; });
  task_ = nullptr;
}

void RankWorkers::Loop(int rank) {
  int64_t seen = 0;
  while (true) {
    const std::function<void(int)>* task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      task = task_;
    }
    (*task)(rank);
    std::lock_guard<std::mutex> lock(mu_);
    if (--pending_ == 0) work_done_.notify_one();
  }
}

}  // namespace tspserve
