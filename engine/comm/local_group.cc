#include "engine/comm/local_group.h"

#include <chrono>
#include <string>

#include "engine/common/check.h"

namespace tspserve {

std::string_view LocalOpName(LocalOp op) {
  switch (op) {
    case LocalOp::kBroadcast: return "Broadcast";
    case LocalOp::kAllGather: return "AllGather";
    case LocalOp::kAllGatherV: return "AllGatherV";
    case LocalOp::kReduceScatter: return "ReduceScatter";
    case LocalOp::kAllReduce: return "AllReduce";
    case LocalOp::kAllToAll: return "AllToAll";
    case LocalOp::kAllToAllV: return "AllToAllV";
    case LocalOp::kSendRecv: return "SendRecv";
    case LocalOp::kBarrier: return "Barrier";
    case LocalOp::kSplit: return "Split";
  }
  return "?";
}

LocalGroup::LocalGroup(int size) : size_(size), calls_(static_cast<size_t>(size)) {
  CHECK_GE(size, 1) << "a local group needs at least one rank";
}

void LocalGroup::Arrive(int rank, std::string_view what) {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t generation = generation_;
  if (++arrived_ == size_) {
    arrived_ = 0;
    ++generation_;
    cv_.notify_all();
    return;
  }
  int waited = 0;
  while (!cv_.wait_for(lock, std::chrono::seconds(kStallWarningSeconds),
                       [&] { return generation_ != generation; })) {
    waited += kStallWarningSeconds;
    LOG(WARNING) << "LocalCommunicator: rank " << rank << " has waited " << waited << " s in "
                 << what << " with " << arrived_ << " of " << size_
                 << " ranks arrived; did a rank skip or reorder a collective?";
  }
}

}  // namespace tspserve
