#include "engine/comm/local_communicator.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <utility>

#include "engine/comm/local_group.h"
#include "engine/comm/reduce_sum.h"
#include "engine/common/check.h"

namespace tspserve {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

char* Bytes(const Tensor& t) { return static_cast<char*>(t.data()); }

// memmove because an in-place AllGather copies a block onto itself.
void CopyBytes(void* dst, const void* src, int64_t bytes) {
  if (bytes > 0 && dst != src) std::memmove(dst, src, static_cast<size_t>(bytes));
}

int64_t ElementSize(const Tensor& t) { return static_cast<int64_t>(DTypeSize(t.dtype())); }
int64_t NumBytes(const Tensor& t) { return static_cast<int64_t>(t.nbytes()); }

std::string Describe(const Tensor& t) {
  return std::string(DTypeName(t.dtype())) + t.ShapeString();
}

// Bytes of one dim-0 row: the product of the other dimensions times the element size.
int64_t RowBytes(const Tensor& t, std::string_view op) {
  CHECK_GE(t.rank(), 1) << op << ": a tensor of rank 0 has no rows";
  int64_t elements = 1;
  for (int i = 1; i < t.rank(); ++i) elements *= t.dim(i);
  return elements * ElementSize(t);
}

// Sum of the first `end` counts; CHECKs that none is negative.
int64_t SumRows(std::span<const int64_t> rows, size_t end, std::string_view op) {
  int64_t total = 0;
  for (size_t i = 0; i < end; ++i) {
    CHECK_GE(rows[i], 0) << op << ": negative row count " << rows[i] << " for rank " << i;
    total += rows[i];
  }
  return total;
}

void CheckBuffer(const Tensor& t, std::string_view op, std::string_view what) {
  CHECK(t.device() == Device::kCpu) << op << ": " << what << " is not host memory";
  CHECK(t.is_contiguous()) << op << ": " << what << " " << t.ShapeString() << " is not contiguous";
  CHECK(t.numel() == 0 || t.data() != nullptr) << op << ": " << what << " has no data";
}

// CHECKs the send and recv buffers of one call: host memory, contiguous, one dtype.
void CheckSendRecvBuffers(const Tensor& send, const Tensor& recv, std::string_view op) {
  CheckBuffer(send, op, "send");
  CheckBuffer(recv, op, "recv");
  CHECK(send.dtype() == recv.dtype()) << op << ": send is " << DTypeName(send.dtype())
                                      << " but recv is " << DTypeName(recv.dtype());
}

// CHECKs that send and recv rows have the same size (rank >= 1) and returns it in bytes.
int64_t CheckRowBytes(const Tensor& send, const Tensor& recv, std::string_view op) {
  const int64_t row = RowBytes(send, op);
  CHECK_EQ(row, RowBytes(recv, op)) << op << ": send " << send.ShapeString() << " and recv "
                                    << recv.ShapeString() << " rows differ";
  return row;
}

// CHECKs that rank `peer_rank`'s send has the dtype and row size of this rank's.
void CheckPeerRows(const Tensor& theirs, const Tensor& mine, int peer_rank, int rank,
                   std::string_view op) {
  CHECK(theirs.dtype() == mine.dtype() && RowBytes(theirs, op) == RowBytes(mine, op))
      << op << ": send of rank " << rank << " is " << Describe(mine) << " but rank " << peer_rank
      << " has " << Describe(theirs);
}

// Elements [begin, begin + count) of `numel` that rank r of n reduces: n near-equal blocks, the
// first numel % n one element longer.
std::pair<int64_t, int64_t> ReductionBlock(int64_t numel, int n, int r) {
  const int64_t base = numel / n;
  const int64_t extra = numel % n;
  return {r * base + std::min<int64_t>(r, extra), base + (r < extra ? 1 : 0)};
}

// The index of the `ordinal`-th op of `ops` whose peer is `peer`, or -1.
int FindPeerOp(std::span<const Communicator::PeerOp> ops, int peer, int ordinal) {
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].peer == peer && ordinal-- == 0) return static_cast<int>(i);
  }
  return -1;
}

int CountPeerOps(std::span<const Communicator::PeerOp> ops, int peer) {
  return static_cast<int>(std::count_if(
      ops.begin(), ops.end(), [peer](const Communicator::PeerOp& op) { return op.peer == peer; }));
}

void CheckPeerOps(std::span<const Communicator::PeerOp> ops, int size, std::string_view what) {
  for (const Communicator::PeerOp& op : ops) {
    CHECK(op.peer >= 0 && op.peer < size) << "SendRecv: peer " << op.peer << " of " << size;
    CheckBuffer(op.buffer, "SendRecv", what);
  }
}

int64_t BytesToOthers(std::span<const Communicator::PeerOp> sends, int rank) {
  int64_t bytes = 0;
  for (const Communicator::PeerOp& op : sends) {
    if (op.peer != rank) bytes += NumBytes(op.buffer);
  }
  return bytes;
}

}  // namespace

std::vector<std::unique_ptr<Communicator>> LocalCommunicator::CreateGroup(int size) {
  CHECK_GE(size, 1) << "LocalCommunicator::CreateGroup(" << size << ")";
  auto group = std::make_shared<LocalGroup>(size);
  std::vector<std::unique_ptr<Communicator>> ranks;
  ranks.reserve(static_cast<size_t>(size));
  for (int r = 0; r < size; ++r) {
    ranks.push_back(std::unique_ptr<Communicator>(new LocalCommunicator(group, r)));
  }
  return ranks;
}

LocalCommunicator::LocalCommunicator(std::shared_ptr<LocalGroup> group, int rank)
    : group_(std::move(group)), rank_(rank) {}

int LocalCommunicator::size() const { return group_->size(); }

const LocalCall& LocalCommunicator::peer(int i) const { return group_->call(i); }

void LocalCommunicator::Publish(const LocalCall& call) {
  group_->call(rank_) = call;
  group_->Arrive(rank_, LocalOpName(call.op));
  for (int i = 0; i < size(); ++i) {
    CHECK(peer(i).op == call.op) << "LocalCommunicator: rank " << rank_ << " called "
                                 << LocalOpName(call.op) << " while rank " << i << " called "
                                 << LocalOpName(peer(i).op);
  }
}

void LocalCommunicator::Finish() { group_->Arrive(rank_, "the end of a collective"); }

void LocalCommunicator::CheckMatching(const Tensor& mine, Tensor LocalCall::*field,
                                      std::string_view what) const {
  const std::string_view op = LocalOpName(peer(rank_).op);
  for (int i = 0; i < size(); ++i) {
    const Tensor& theirs = peer(i).*field;
    CHECK(theirs.dtype() == mine.dtype() && theirs.numel() == mine.numel())
        << op << ": " << what << " of rank " << rank_ << " is " << Describe(mine) << " but rank "
        << i << " has " << Describe(theirs);
  }
}

void LocalCommunicator::Broadcast(const Tensor& buffer, int root) {
  const auto start = Clock::now();
  CheckBuffer(buffer, "Broadcast", "buffer");
  CHECK(root >= 0 && root < size()) << "Broadcast: root " << root << " of " << size() << " ranks";
  LocalCall call;
  call.op = LocalOp::kBroadcast;
  call.send = buffer;
  call.root = root;
  Publish(call);
  CheckMatching(buffer, &LocalCall::send, "buffer");
  for (int i = 0; i < size(); ++i) {
    CHECK_EQ(peer(i).root, root) << "Broadcast: rank " << rank_ << " and rank " << i
                                 << " name different roots";
  }
  if (rank_ != root) CopyBytes(buffer.data(), peer(root).send.data(), NumBytes(buffer));
  Finish();
  Record(CollectiveKind::kBroadcast, rank_ == root ? (size() - 1) * NumBytes(buffer) : 0,
         SecondsSince(start));
}

void LocalCommunicator::AllGather(const Tensor& send, const Tensor& recv) {
  const auto start = Clock::now();
  CheckSendRecvBuffers(send, recv, "AllGather");
  CHECK_EQ(recv.numel(), size() * send.numel())
      << "AllGather: recv " << recv.ShapeString() << " must hold " << size() << " x send "
      << send.ShapeString();
  LocalCall call;
  call.op = LocalOp::kAllGather;
  call.send = send;
  call.recv = recv;
  Publish(call);
  CheckMatching(send, &LocalCall::send, "send");
  const int64_t block = NumBytes(send);
  for (int i = 0; i < size(); ++i) CopyBytes(Bytes(recv) + i * block, peer(i).send.data(), block);
  Finish();
  Record(CollectiveKind::kAllGather, (size() - 1) * block, SecondsSince(start));
}

void LocalCommunicator::AllGatherV(const Tensor& send, const Tensor& recv,
                                   std::span<const int64_t> rows_per_rank) {
  const auto start = Clock::now();
  CheckSendRecvBuffers(send, recv, "AllGatherV");
  CHECK_EQ(rows_per_rank.size(), static_cast<size_t>(size())) << "AllGatherV: rows_per_rank";
  CheckRowBytes(send, recv, "AllGatherV");
  CHECK_EQ(send.dim(0), rows_per_rank[rank_]) << "AllGatherV: send rows of rank " << rank_;
  CHECK_EQ(recv.dim(0), SumRows(rows_per_rank, rows_per_rank.size(), "AllGatherV"))
      << "AllGatherV: recv rows must be the sum of rows_per_rank";
  LocalCall call;
  call.op = LocalOp::kAllGatherV;
  call.send = send;
  call.send_rows = rows_per_rank;
  Publish(call);
  int64_t offset = 0;
  for (int i = 0; i < size(); ++i) {
    const LocalCall& p = peer(i);
    CHECK(std::equal(p.send_rows.begin(), p.send_rows.end(), rows_per_rank.begin()))
        << "AllGatherV: rows_per_rank of rank " << i << " differs from rank " << rank_;
    CheckPeerRows(p.send, send, i, rank_, "AllGatherV");
    CopyBytes(Bytes(recv) + offset, p.send.data(), NumBytes(p.send));
    offset += NumBytes(p.send);
  }
  Finish();
  Record(CollectiveKind::kAllGather, (size() - 1) * NumBytes(send), SecondsSince(start));
}

void LocalCommunicator::ReduceScatter(const Tensor& send, const Tensor& recv) {
  const auto start = Clock::now();
  CheckSendRecvBuffers(send, recv, "ReduceScatter");
  CHECK(IsSummable(send.dtype())) << "ReduceScatter: cannot sum " << DTypeName(send.dtype());
  CHECK_EQ(send.numel(), size() * recv.numel())
      << "ReduceScatter: send " << send.ShapeString() << " must hold " << size() << " x recv "
      << recv.ShapeString();
  LocalCall call;
  call.op = LocalOp::kReduceScatter;
  call.send = send;
  call.recv = recv;
  Publish(call);
  CheckMatching(send, &LocalCall::send, "send");
  const int64_t offset = rank_ * NumBytes(recv);
  std::vector<const void*> sources;
  for (int i = 0; i < size(); ++i) sources.push_back(Bytes(peer(i).send) + offset);
  SumArrays(send.dtype(), sources, recv.numel(), recv.data());
  Finish();
  Record(CollectiveKind::kReduceScatter, (size() - 1) * NumBytes(recv), SecondsSince(start));
}

void LocalCommunicator::AllReduce(const Tensor& buffer) {
  const auto start = Clock::now();
  CheckBuffer(buffer, "AllReduce", "buffer");
  CHECK(IsSummable(buffer.dtype())) << "AllReduce: cannot sum " << DTypeName(buffer.dtype());
  LocalCall call;
  call.op = LocalOp::kAllReduce;
  call.send = buffer;
  Publish(call);
  CheckMatching(buffer, &LocalCall::send, "buffer");
  // Block r of every rank's buffer is read and written by rank r alone.
  const auto [begin, count] = ReductionBlock(buffer.numel(), size(), rank_);
  const int64_t offset = begin * ElementSize(buffer);
  std::vector<const void*> sources;
  for (int i = 0; i < size(); ++i) sources.push_back(Bytes(peer(i).send) + offset);
  SumArrays(buffer.dtype(), sources, count, Bytes(buffer) + offset);
  for (int i = 0; i < size(); ++i) {
    CopyBytes(Bytes(peer(i).send) + offset, Bytes(buffer) + offset, count * ElementSize(buffer));
  }
  Finish();
  const int64_t sent = (buffer.numel() - count + (size() - 1) * count) * ElementSize(buffer);
  Record(CollectiveKind::kAllReduce, sent, SecondsSince(start));
}

void LocalCommunicator::AllToAll(const Tensor& send, const Tensor& recv) {
  const auto start = Clock::now();
  CheckSendRecvBuffers(send, recv, "AllToAll");
  CHECK(send.rank() >= 1 && send.dim(0) % size() == 0 && send.numel() == recv.numel())
      << "AllToAll: send " << send.ShapeString() << " and recv " << recv.ShapeString()
      << " must be equal and split in " << size() << " blocks along dim 0";
  LocalCall call;
  call.op = LocalOp::kAllToAll;
  call.send = send;
  call.recv = recv;
  Publish(call);
  CheckMatching(send, &LocalCall::send, "send");
  const int64_t block = NumBytes(send) / size();
  for (int i = 0; i < size(); ++i) {
    CopyBytes(Bytes(recv) + i * block, Bytes(peer(i).send) + rank_ * block, block);
  }
  Finish();
  Record(CollectiveKind::kAllToAll, NumBytes(send) - block, SecondsSince(start));
}

void LocalCommunicator::AllToAllV(const Tensor& send, std::span<const int64_t> send_rows,
                                  const Tensor& recv, std::span<const int64_t> recv_rows) {
  const auto start = Clock::now();
  CheckSendRecvBuffers(send, recv, "AllToAllV");
  CHECK(send_rows.size() == static_cast<size_t>(size()) &&
        recv_rows.size() == static_cast<size_t>(size()))
      << "AllToAllV: send_rows and recv_rows need " << size() << " entries";
  const int64_t row = CheckRowBytes(send, recv, "AllToAllV");
  CHECK_EQ(send.dim(0), SumRows(send_rows, send_rows.size(), "AllToAllV"))
      << "AllToAllV: send rows";
  CHECK_EQ(recv.dim(0), SumRows(recv_rows, recv_rows.size(), "AllToAllV"))
      << "AllToAllV: recv rows";
  LocalCall call;
  call.op = LocalOp::kAllToAllV;
  call.send = send;
  call.send_rows = send_rows;
  call.recv_rows = recv_rows;
  Publish(call);
  int64_t offset = 0;
  for (int i = 0; i < size(); ++i) {
    const LocalCall& p = peer(i);
    CheckPeerRows(p.send, send, i, rank_, "AllToAllV");
    CHECK_EQ(p.send_rows[rank_], recv_rows[i])
        << "AllToAllV: rank " << i << " sends " << p.send_rows[rank_] << " rows to rank " << rank_
        << ", which expects " << recv_rows[i];
    const int64_t bytes = recv_rows[i] * row;
    CopyBytes(Bytes(recv) + offset, Bytes(p.send) + SumRows(p.send_rows, rank_, "AllToAllV") * row,
              bytes);
    offset += bytes;
  }
  Finish();
  Record(CollectiveKind::kAllToAll, NumBytes(send) - send_rows[rank_] * row, SecondsSince(start));
}

void LocalCommunicator::SendRecv(std::span<const PeerOp> sends, std::span<const PeerOp> recvs) {
  const auto start = Clock::now();
  CheckPeerOps(sends, size(), "a send buffer");
  CheckPeerOps(recvs, size(), "a recv buffer");
  LocalCall call;
  call.op = LocalOp::kSendRecv;
  call.sends = sends;
  call.recvs = recvs;
  Publish(call);
  for (int i = 0; i < size(); ++i) {
    const int sent_here = CountPeerOps(peer(i).sends, rank_);
    const int received = CountPeerOps(recvs, i);
    CHECK_EQ(sent_here, received) << "SendRecv: rank " << i << " sends " << sent_here
                                  << " buffers to rank " << rank_ << ", which receives "
                                  << received;
  }
  for (size_t k = 0; k < recvs.size(); ++k) {
    const PeerOp& mine = recvs[k];
    const int ordinal = CountPeerOps(recvs.first(k), mine.peer);
    const PeerOp& theirs = peer(mine.peer).sends[FindPeerOp(peer(mine.peer).sends, rank_, ordinal)];
    CHECK(theirs.buffer.dtype() == mine.buffer.dtype() &&
          theirs.buffer.nbytes() == mine.buffer.nbytes())
        << "SendRecv: rank " << mine.peer << " sends " << Describe(theirs.buffer) << " to rank "
        << rank_ << ", which receives " << Describe(mine.buffer);
    CopyBytes(mine.buffer.data(), theirs.buffer.data(), NumBytes(mine.buffer));
  }
  Finish();
  Record(CollectiveKind::kSendRecv, BytesToOthers(sends, rank_), SecondsSince(start));
}

void LocalCommunicator::Barrier() {
  LocalCall call;
  call.op = LocalOp::kBarrier;
  Publish(call);
  Finish();
}

std::vector<int> LocalCommunicator::SplitMembers(int color) const {
  std::vector<int> members;
  for (int i = 0; i < size(); ++i) {
    if (peer(i).color == color) members.push_back(i);
  }
  std::stable_sort(members.begin(), members.end(),
                   [this](int a, int b) { return peer(a).key < peer(b).key; });
  return members;
}

std::unique_ptr<Communicator> LocalCommunicator::Split(int color, int key) {
  LocalCall call;
  call.op = LocalOp::kSplit;
  call.color = color;
  call.key = key;
  Publish(call);
  std::vector<int> members;
  if (color >= 0) members = SplitMembers(color);
  if (!members.empty() && members.front() == rank_) {
    group_->call(rank_).new_group = std::make_shared<LocalGroup>(static_cast<int>(members.size()));
  }
  group_->Arrive(rank_, "Split (creating the new groups)");
  std::unique_ptr<Communicator> result;
  if (!members.empty()) {
    const int new_rank =
        static_cast<int>(std::find(members.begin(), members.end(), rank_) - members.begin());
    result.reset(new LocalCommunicator(peer(members.front()).new_group, new_rank));
  }
  Finish();
  group_->call(rank_).new_group.reset();
  return result;
}

}  // namespace tspserve
