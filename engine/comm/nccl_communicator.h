// NcclCommunicator: the device Communicator, one rank per GPU of this process, over NCCL. This
// header names no CUDA or NCCL type, so plain C++ (engine/runtime, tests) can include it; streams
// cross it as void* (a cudaStream_t) and every device resource lives behind NcclRankState in the
// .cc.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/comm/communicator.h"

namespace tspserve {

// One rank's NCCL communicator, communication stream, events and timing queue
// (nccl_communicator.cc).
struct NcclRankState;

// Every collective is ordered after the work already issued on the rank's compute stream and runs
// on the rank's own non-blocking communication stream:
//   set the device; record an event on the compute stream; the comm stream waits for it; the NCCL
//   call(s) go on the comm stream; a completion event is recorded there; unless deferred, the
//   compute stream waits for it.
// So a collective returns once it is enqueued, and later work on the compute stream sees its
// result. With SetDeferred(true) the compute stream no longer waits; WaitDeferred() makes it wait
// for the last collective issued (the comm stream runs in issue order, so for all of them).
//
// Buffers are Tensors of Device::kCuda memory on this rank's device, contiguous (CHECKed, as are
// the sizes, row counts and self-pairings a rank can verify alone). A mismatch between ranks
// (sizes, order of calls) cannot be seen by one rank: as with NCCL, the group then hangs or reads
// garbage.
//
// Deviation from the Communicator contract (NCCL's): F16 and BF16 sums may round partial sums to
// the element type on the way rather than accumulate in float and round once, and every
// floating-point sum is added in NCCL's order, not rank order. Integer sums are exact (wrapping).
//
// Statistics: calls and bytes (the contract's rules) are added when a collective is issued; its
// seconds are measured by an event pair around it on the comm stream and added by FlushStats() once
// the pair has completed. Call FlushStats() after synchronizing the compute stream; Barrier() also
// flushes. Pairs are not timed while the compute stream is being captured into a CUDA graph.
//
// Errors: CreateGroup returns a Status; every later CUDA or NCCL failure is a CHECK failure
// carrying the library's error string. Each handle belongs to its rank's worker thread; it sets
// that thread's current device to its own in every call.
class NcclCommunicator final : public Communicator {
 public:
  // A group of devices.size() ranks in this process (one ncclCommInitAll), rank i on devices[i]
  // ordering its collectives against compute_streams[i] (a cudaStream_t of device i, owned by the
  // rank's backend, which must outlive the handle and every handle Split from it). The devices must
  // be valid and distinct (NCCL refuses a repeated device, with InvalidArgument, unless
  // NCCL_MULTI_RANK_GPU_ENABLE=1 in NCCL versions that have it); the two spans equally long and not
  // empty. Leaves the calling thread's current device as it found it.
  static absl::StatusOr<std::vector<std::unique_ptr<Communicator>>> CreateGroup(
      std::span<const int> devices, std::span<void* const> compute_streams);

  // Waits for this handle's communication stream, then releases the NCCL communicator, events and
  // (when no child shares it) the stream.
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device() const { return device_; }

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
  // A one-byte all-reduce, then waits for the comm stream (so for every collective issued before)
  // and flushes the statistics.
  void Barrier() override;
  // ncclCommSplit. The child shares this handle's compute stream and communication stream (owned
  // jointly), so the collectives of parent and child on one rank run in one order and cannot
  // deadlock each other. Either handle may be destroyed first.
  std::unique_ptr<Communicator> Split(int color, int key) override;

  void SetDeferred(bool deferred) override;
  void WaitDeferred() override;
  void FlushStats() override;

  // Timing pairs waiting for FlushStats; past this many, a collective first waits for the oldest.
  static constexpr size_t kMaxPendingTimings = 4096;

 private:
  explicit NcclCommunicator(std::unique_ptr<NcclRankState> state);

  // Completes the issue of a collective begun in the .cc (stop and completion events, the compute
  // stream's wait unless deferred) and records its calls and bytes.
  void FinishCollective(CollectiveKind kind, int64_t bytes);
  // Adds measured seconds without counting a call. Communicator offers only Record(), which also
  // counts one, so this writes the inherited counters directly.

  std::unique_ptr<NcclRankState> state_;
  int rank_;
  int size_;
  int device_;
};

}  // namespace tspserve
