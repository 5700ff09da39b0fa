#include "engine/runtime/host_staged_communicator.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "engine/common/check.h"

namespace tspserve {

HostStagedCommunicator::HostStagedCommunicator(std::unique_ptr<Communicator> host, Backend& backend)
    : host_(std::move(host)), backend_(backend) {}

HostStagedCommunicator::Staged HostStagedCommunicator::Stage(const Tensor& device, bool download) {
  CHECK(device.is_contiguous()) << "collective buffer " << device.ShapeString() << " is not contiguous";
  Staged staged;
  staged.bytes.resize(std::max<size_t>(device.nbytes(), 1));
  int64_t shape[Tensor::kMaxRank];
  for (int i = 0; i < device.rank(); ++i) shape[i] = device.dim(i);
  staged.host = Tensor(staged.bytes.data(), device.dtype(), shape, device.rank(), Device::kCpu);
  if (download && device.nbytes() > 0) backend_.CopyToHost(staged.bytes.data(), device);
  return staged;
}

bool HostStagedCommunicator::Inside(const Tensor& inner, const Tensor& outer) {
  const char* begin = static_cast<const char*>(outer.data());
  const char* p = static_cast<const char*>(inner.data());
  return inner.nbytes() > 0 && p >= begin && p + inner.nbytes() <= begin + outer.nbytes();
}

Tensor HostStagedCommunicator::Within(const Staged& outer, const Tensor& outer_device, const Tensor& inner) {
  const ptrdiff_t offset = static_cast<const char*>(inner.data()) - static_cast<const char*>(outer_device.data());
  int64_t shape[Tensor::kMaxRank];
  for (int i = 0; i < inner.rank(); ++i) shape[i] = inner.dim(i);
  return Tensor(const_cast<char*>(outer.bytes.data()) + offset, inner.dtype(), shape, inner.rank(), Device::kCpu);
}

void HostStagedCommunicator::Upload(const Tensor& device, const Staged& staged) {
  if (device.nbytes() > 0) backend_.CopyFromHost(device, staged.bytes.data());
}

template <typename Call>
void HostStagedCommunicator::Run(CollectiveKind kind, Call call) {
  const int k = static_cast<int>(kind);
  const CommStats before = host_->stats();
  call();
  const CommStats& after = host_->stats();
  Record(kind, after.bytes_sent[k] - before.bytes_sent[k], after.seconds[k] - before.seconds[k]);
}

void HostStagedCommunicator::Broadcast(const Tensor& buffer, int root) {
  Staged staged = Stage(buffer, /*download=*/rank() == root);
  Run(CollectiveKind::kBroadcast, [&] { host_->Broadcast(staged.host, root); });
  Upload(buffer, staged);
}

void HostStagedCommunicator::AllGather(const Tensor& send, const Tensor& recv) {
  Staged all = Stage(recv, /*download=*/false);
  const bool in_place = Inside(send, recv);
  Staged mine = Stage(send, /*download=*/true);
  Tensor host_send = in_place ? Within(all, recv, send) : mine.host;
  if (in_place && send.nbytes() > 0) std::memcpy(host_send.data(), mine.bytes.data(), send.nbytes());
  Run(CollectiveKind::kAllGather, [&] { host_->AllGather(host_send, all.host); });
  Upload(recv, all);
}

void HostStagedCommunicator::AllGatherV(const Tensor& send, const Tensor& recv,
                                        std::span<const int64_t> rows_per_rank) {
  Staged all = Stage(recv, /*download=*/false);
  Staged mine = Stage(send, /*download=*/true);
  Run(CollectiveKind::kAllGather, [&] { host_->AllGatherV(mine.host, all.host, rows_per_rank); });
  Upload(recv, all);
}

void HostStagedCommunicator::ReduceScatter(const Tensor& send, const Tensor& recv) {
  Staged all = Stage(send, /*download=*/true);
  const bool in_place = Inside(recv, send);
  Staged mine = Stage(recv, /*download=*/false);
  Tensor host_recv = in_place ? Within(all, send, recv) : mine.host;
  Run(CollectiveKind::kReduceScatter, [&] { host_->ReduceScatter(all.host, host_recv); });
  if (in_place) {
    std::memcpy(mine.bytes.data(), host_recv.data(), recv.nbytes());
  }
  Upload(recv, mine);
}

void HostStagedCommunicator::AllReduce(const Tensor& buffer) {
  Staged staged = Stage(buffer, /*download=*/true);
  Run(CollectiveKind::kAllReduce, [&] { host_->AllReduce(staged.host); });
  Upload(buffer, staged);
}

void HostStagedCommunicator::AllToAll(const Tensor& send, const Tensor& recv) {
  Staged from = Stage(send, /*download=*/true);
  Staged to = Stage(recv, /*download=*/false);
  Run(CollectiveKind::kAllToAll, [&] { host_->AllToAll(from.host, to.host); });
  Upload(recv, to);
}

void HostStagedCommunicator::AllToAllV(const Tensor& send, std::span<const int64_t> send_rows,
                                       const Tensor& recv, std::span<const int64_t> recv_rows) {
  Staged from = Stage(send, /*download=*/true);
  Staged to = Stage(recv, /*download=*/false);
  Run(CollectiveKind::kAllToAll, [&] { host_->AllToAllV(from.host, send_rows, to.host, recv_rows); });
  Upload(recv, to);
}

void HostStagedCommunicator::SendRecv(std::span<const PeerOp> sends, std::span<const PeerOp> recvs) {
  std::vector<Staged> staged_sends, staged_recvs;
  std::vector<PeerOp> host_sends, host_recvs;
  staged_sends.reserve(sends.size());
  staged_recvs.reserve(recvs.size());
  for (const PeerOp& op : sends) {
    staged_sends.push_back(Stage(op.buffer, /*download=*/true));
    host_sends.push_back({op.peer, staged_sends.back().host});
  }
  for (const PeerOp& op : recvs) {
    staged_recvs.push_back(Stage(op.buffer, /*download=*/false));
    host_recvs.push_back({op.peer, staged_recvs.back().host});
  }
  Run(CollectiveKind::kSendRecv, [&] { host_->SendRecv(host_sends, host_recvs); });
  for (size_t i = 0; i < recvs.size(); ++i) Upload(recvs[i].buffer, staged_recvs[i]);
}

std::unique_ptr<Communicator> HostStagedCommunicator::Split(int color, int key) {
  std::unique_ptr<Communicator> child = host_->Split(color, key);
  if (child == nullptr) return nullptr;
  return std::make_unique<HostStagedCommunicator>(std::move(child), backend_);
}

}  // namespace tspserve
