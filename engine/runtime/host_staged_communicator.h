// HostStagedCommunicator: collectives for ranks whose buffers live on a device that no device
// communicator serves, e.g. several ranks sharing one GPU (NCCL puts at most one rank on a GPU).
// Each collective copies this rank's device buffers to host memory, runs the collective of an
// inner host communicator (a LocalCommunicator) there, and copies the results back. Correct and
// slow: it exists so every schedule can run on the CUDA backend with more ranks than GPUs (tests),
// never for speed.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/comm/communicator.h"

namespace tspserve {

class HostStagedCommunicator final : public Communicator {
 public:
  // `host` is this rank's handle on a host group of the same size; `backend` owns the device
  // buffers this rank passes (it must outlive the communicator).
  HostStagedCommunicator(std::unique_ptr<Communicator> host, Backend& backend);

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }

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
  void Barrier() override { host_->Barrier(); }
  std::unique_ptr<Communicator> Split(int color, int key) override;

 private:
  // A host copy of a device tensor (same dtype and shape), filled from it when `download`.
  struct Staged {
    std::vector<char> bytes;
    Tensor host;
  };
  Staged Stage(const Tensor& device, bool download);
  // The host view of `inner` (a device tensor lying inside `outer`) within outer's staged copy.
  static Tensor Within(const Staged& outer, const Tensor& outer_device, const Tensor& inner);
  static bool Inside(const Tensor& inner, const Tensor& outer);
  void Upload(const Tensor& device, const Staged& staged);
  // Runs `call` on the host group and records what it recorded there.
  template <typename Call>
  void Run(CollectiveKind kind, Call call);

  std::unique_ptr<Communicator> host_;
  Backend& backend_;
};

}  // namespace tspserve
