// LocalCommunicator: N ranks as threads of one process, the communicator of the CPU backend.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "engine/comm/communicator.h"

namespace tspserve {

class LocalGroup;
struct LocalCall;

// Every collective is a rendezvous on shared state: each rank publishes its call (buffer views and
// counts), waits until all ranks have, then copies (memcpy) or sums what it needs straight out of
// its peers' buffers, and waits again until every rank is done reading before it returns, so
// buffers can be reused at once. Reductions are split into size() element blocks, rank r reducing
// block r for everyone, so no two threads ever write the same bytes. Buffers must be host memory.
//
// Mismatched calls across ranks (a different collective, root, dtype, element or row count) are
// programming errors and CHECK-fail with a message naming both ranks' values. A rank that skips a
// collective cannot be told from a slow one: the others wait, logging a warning every 30 s.
class LocalCommunicator final : public Communicator {
 public:
  // The handles of a new group of `size` >= 1 ranks, handle i being rank i. Give each its own
  // thread; with size 1 every collective is a local copy.
  static std::vector<std::unique_ptr<Communicator>> CreateGroup(int size);

  int rank() const override { return rank_; }
  int size() const override;

  void Broadcast(const Tensor& buffer, int root) override;
  void AllGather(const Tensor& send, const Tensor& recv) override;
  void AllGatherV(const Tensor& send, const Tensor& recv,
                  std::span<const int64_t> rows_per_rank) override;
  void ReduceScatter(const Tensor& send, const Tensor& recv) override;
  void AllReduce(const Tensor& buffer) override;
  void AllToAll(const Tensor& send, const Tensor& recv) override;
  void AllToAllV(const Tensor& send, std::span<const int64_t> send_rows, const Tensor& recv,
                 std::span<const int64_t> recv_rows) override;
  void SendRecv(std::span<const PeerOp> sends, std::span<const PeerOp> recvs) override;
  void Barrier() override;
  std::unique_ptr<Communicator> Split(int color, int key) override;

 private:
  LocalCommunicator(std::shared_ptr<LocalGroup> group, int rank);

  // Publishes this rank's call, waits for every rank's and CHECKs that they all make the same op.
  void Publish(const LocalCall& call);
  // The call rank i published for the collective in progress (valid between Publish and Finish).
  const LocalCall& peer(int i) const;
  // Waits until every rank is done with the published calls and buffers.
  void Finish();
  // CHECKs that every rank's tensor `field` has the dtype and element count of `mine`.
  void CheckMatching(const Tensor& mine, Tensor LocalCall::*field, std::string_view what) const;
  // The members of the new group with `color`, ordered by (key, rank), from the published calls.
  std::vector<int> SplitMembers(int color) const;

  std::shared_ptr<LocalGroup> group_;
  int rank_;
};

}  // namespace tspserve
