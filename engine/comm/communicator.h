// Communicator: the collectives one rank of an N-rank group needs, with NCCL's semantics, so that
// the thread-based LocalCommunicator (CPU backend) and a later NcclCommunicator share call sites.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "engine/tensor/tensor.h"

namespace tspserve {

enum class CollectiveKind : uint8_t {
  kBroadcast,
  kAllGather,  // also AllGatherV
  kReduceScatter,
  kAllReduce,
  kAllToAll,  // also AllToAllV
  kSendRecv,
};
inline constexpr int kNumCollectiveKinds = 6;

// "Broadcast", "AllGather", ... (the spelling of the enumerator without the k).
std::string_view CollectiveKindName(CollectiveKind kind);

// Per-kind counters of one rank, indexed by static_cast<int>(CollectiveKind).
struct CommStats {
  std::array<int64_t, kNumCollectiveKinds> bytes_sent{};
  std::array<int64_t, kNumCollectiveKinds> calls{};
  std::array<double, kNumCollectiveKinds> seconds{};  // wall time inside the calls
  // Time the rank's compute stood idle waiting for collectives: the communication not hidden
  // under compute. A blocking (host) call's whole time is exposed; a device implementation
  // measures the compute stream's stalls.
  double exposed_seconds = 0;

  int64_t bytes(CollectiveKind kind) const { return bytes_sent[static_cast<int>(kind)]; }
  int64_t count(CollectiveKind kind) const { return calls[static_cast<int>(kind)]; }
};

// One rank's handle on a group. A handle belongs to one thread (its rank's worker); different
// ranks' handles are used concurrently.
//
// Contract of every collective (NCCL semantics):
// - Every rank of the group calls the same collectives in the same order with matching arguments.
//   A mismatch is a programming error: implementations CHECK-fail where they can detect it.
// - Buffers are Tensors on the caller's device, contiguous, with the same dtype on every rank.
//   Sizes are element counts; shapes matter only through dim 0 where rows are mentioned.
// - Reductions are sums over ranks in rank order: F32, F16 and BF16 are accumulated in float and
//   rounded once; I32 and I64 wrap around on overflow.
// - A host implementation returns when this rank's buffers are complete and its send buffers may
//   be reused; a device implementation may instead enqueue the work, completing in stream order.
// - Send and receive buffers must not overlap, except the in-place forms named below.
//
// Statistics: each call adds 1 to calls[kind], its wall time (waiting for peers included) to
// seconds[kind], and to bytes_sent[kind] the bytes this rank sends to OTHER ranks in a direct
// implementation (every transfer goes straight from the rank holding the data to the rank needing
// it; nothing is relayed). With n = size() and B(x) the bytes of buffer x:
//   Broadcast       root: (n-1)*B(buffer); other ranks: 0
//   AllGather(V)    (n-1)*B(send)
//   ReduceScatter   (n-1)*B(recv)                    (the n-1 blocks that other ranks reduce)
//   AllReduce       reduce-scatter, then all-gather, of n element blocks (block r has e_r = E/n
//                   elements, plus one when r < E%n; E = numel): (E - e_r + (n-1)*e_r)*elem_size,
//                   i.e. 2*(n-1)/n * B(buffer) when n divides E
//   AllToAll(V)     B(send) minus the rows this rank keeps (its own block)
//   SendRecv        sum of B(op.buffer) over sends whose peer is not this rank
// Barrier and Split record nothing.
class Communicator {
 public:
  // A buffer to send to or receive from `peer` (a rank of this group) in SendRecv.
  struct PeerOp {
    int peer = 0;
    Tensor buffer;
  };

  Communicator() = default;
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const = 0;  // in [0, size())
  virtual int size() const = 0;

  // In place: every rank's `buffer` ends equal to the root's.
  virtual void Broadcast(const Tensor& buffer, int root) = 0;
  // recv [n*R, ...] = the ranks' send [R, ...] concatenated in rank order. In place when `send` is
  // recv.Slice(rank*R, (rank+1)*R).
  virtual void AllGather(const Tensor& send, const Tensor& recv) = 0;
  // Like AllGather with unequal row counts: rank r sends rows_per_rank[r] rows (possibly 0; send
  // has rank >= 1 and dim 0 = rows_per_rank[r]); recv has sum(rows_per_rank) rows of the same row
  // size. rows_per_rank has size() entries and is the same on every rank.
  virtual void AllGatherV(const Tensor& send, const Tensor& recv,
                          std::span<const int64_t> rows_per_rank) = 0;
  // send [n*R, ...] summed over ranks; rank r receives block r as recv [R, ...]. In place when
  // `recv` is send.Slice(rank*R, (rank+1)*R).
  virtual void ReduceScatter(const Tensor& send, const Tensor& recv) = 0;
  // In place: every rank's `buffer` ends equal to the sum of all ranks' buffers.
  virtual void AllReduce(const Tensor& buffer) = 0;
  // send and recv [n*R, ...]: block j of rank i's send lands in block i of rank j's recv.
  virtual void AllToAll(const Tensor& send, const Tensor& recv) = 0;
  // Unequal blocks: this rank sends its next send_rows[j] rows to rank j (blocks consecutive in
  // rank order) and receives recv_rows[i] rows from rank i into consecutive recv blocks. Rank i's
  // send_rows[j] must equal rank j's recv_rows[i]; both spans have size() entries.
  virtual void AllToAllV(const Tensor& send, std::span<const int64_t> send_rows, const Tensor& recv,
                         std::span<const int64_t> recv_rows) = 0;
  // Grouped point-to-point, like ncclGroupStart/End around ncclSend/ncclRecv: all operations of one
  // call progress together, so a ring step that sends to p+1 and receives from p-1 cannot deadlock.
  // The k-th send from i to j pairs with the k-th recv on j from i; paired buffers have equal
  // bytes. A peer may be this rank. Unlike NCCL, the call is collective: every rank of the group
  // makes it, with empty spans if it has nothing to move.
  virtual void SendRecv(std::span<const PeerOp> sends, std::span<const PeerOp> recvs) = 0;
  // Returns once every rank has entered Barrier.
  virtual void Barrier() = 0;
  // Collective, like ncclCommSplit: the ranks passing the same color form a new group, ordered by
  // (key, rank in this group). A negative color joins no group and gets nullptr. The new handle is
  // independent of this one (either may be used or destroyed first).
  virtual std::unique_ptr<Communicator> Split(int color, int key) = 0;

  // Overlap control for device implementations, whose collectives run on a communication stream
  // after the work already issued on the rank's compute stream. By default the compute stream then
  // waits for each collective before later work. While deferred, collectives do not block the
  // compute stream; WaitDeferred() makes it wait for every collective issued so far (issue the next
  // shard's transfer deferred, compute on the current shard, then WaitDeferred()). The caller must
  // not touch a deferred collective's buffers before WaitDeferred(). Host implementations complete
  // each collective before returning, so these are no-ops there.
  virtual void SetDeferred(bool deferred) {}
  virtual void WaitDeferred() {}
  // Device implementations time collectives with events and add the times (to seconds[kind]) of
  // those that have completed; call it after synchronizing the rank's compute stream.
  virtual void FlushStats() {}

  const CommStats& stats() const { return stats_; }
  void ResetStats() { stats_ = CommStats{}; }

 protected:
  // Adds one call of `kind` that sent `bytes` (by the rule above) and blocked for `seconds`.
  void Record(CollectiveKind kind, int64_t bytes, double seconds);
  // Device implementations learn a collective's time (and compute stalls) after the fact.
  void AddSeconds(CollectiveKind kind, double seconds) { stats_.seconds[static_cast<int>(kind)] += seconds; }
  void AddExposedSeconds(double seconds) { stats_.exposed_seconds += seconds; }

 private:
  CommStats stats_;
};

}  // namespace tspserve
