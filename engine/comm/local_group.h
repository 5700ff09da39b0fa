// The rendezvous shared by the ranks of one LocalCommunicator group: the call each rank published
// for the collective in progress, and a generation-counted barrier.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "engine/comm/communicator.h"
#include "engine/tensor/tensor.h"

namespace tspserve {

// The calls of the Communicator interface, finer than CollectiveKind so that mismatches name them.
enum class LocalOp : uint8_t {
  kBroadcast,
  kAllGather,
  kAllGatherV,
  kReduceScatter,
  kAllReduce,
  kAllToAll,
  kAllToAllV,
  kSendRecv,
  kBarrier,
  kSplit,
};
std::string_view LocalOpName(LocalOp op);

class LocalGroup;

// What one rank published for the current collective. Views and spans point at the caller's
// memory, valid because the caller stays blocked in the call until every rank is done with it.
struct LocalCall {
  LocalOp op = LocalOp::kBarrier;
  Tensor send;  // the buffer of in-place collectives (Broadcast, AllReduce)
  Tensor recv;
  int root = 0;                                 // Broadcast
  std::span<const int64_t> send_rows;           // AllGatherV rows_per_rank, AllToAllV send_rows
  std::span<const int64_t> recv_rows;           // AllToAllV
  std::span<const Communicator::PeerOp> sends;  // SendRecv
  std::span<const Communicator::PeerOp> recvs;  // SendRecv
  int color = 0;                                // Split
  int key = 0;                                  // Split
  std::shared_ptr<LocalGroup> new_group;        // Split: created by the first rank of the new group
};

class LocalGroup {
 public:
  explicit LocalGroup(int size);

  LocalGroup(const LocalGroup&) = delete;
  LocalGroup& operator=(const LocalGroup&) = delete;

  int size() const { return size_; }
  // Rank r writes only call(r), and only while no other rank can be reading it (before its first
  // Arrive of a collective, or fields that no one reads until the next Arrive).
  LocalCall& call(int rank) { return calls_[rank]; }
  const LocalCall& call(int rank) const { return calls_[rank]; }

  // Blocks until all size() ranks have arrived in this generation; writes made before arriving are
  // visible to every rank after it. A rank that skips a collective hangs the group, as with NCCL;
  // while waiting, a warning naming `rank` and `what` is logged every kStallWarningSeconds.
  void Arrive(int rank, std::string_view what);

  static constexpr int kStallWarningSeconds = 30;

 private:
  const int size_;
  std::vector<LocalCall> calls_;  // [size_]
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;         // ranks waiting in the current generation; guarded by mu_
  int64_t generation_ = 0;  // completed barriers; guarded by mu_
};

}  // namespace tspserve
