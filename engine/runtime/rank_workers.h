// RankWorkers: one long-lived thread per rank. RunOnAll runs a function on every rank at once and
// returns when all have finished: the way one step (with its collectives) runs on N ranks.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tspserve {

class RankWorkers {
 public:
  explicit RankWorkers(int num_ranks);
  ~RankWorkers();
  RankWorkers(const RankWorkers&) = delete;
  RankWorkers& operator=(const RankWorkers&) = delete;

  // Calls fn(rank) on every rank's thread; blocks until every call returned.
  void RunOnAll(const std::function<void(int)>& fn);
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop(int rank);

  std::mutex mu_;
  std::condition_variable work_ready_, work_done_;
  const std::function<void(int)>* task_ = nullptr;  // guarded by mu_
  int64_t generation_ = 0;                           // guarded by mu_
  int pending_ = 0;                                  // guarded by mu_
  bool stopping_ = false;                            // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace tspserve
