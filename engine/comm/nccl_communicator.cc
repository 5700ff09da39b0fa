#include "engine/comm/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <deque>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/check.h"
#include "engine/common/cuda_check.h"
#include "engine/common/status.h"

namespace tspserve {
namespace {

// ---- Error handling: CHECK after creation, Status inside CreateGroup (CUDA_CHECK and CudaStatus
// come from engine/common/cuda_check.h). ----

void CheckNccl(ncclResult_t result, const char* what) {
  CHECK(result == ncclSuccess) << "NcclCommunicator: " << what << ": " << ncclGetErrorString(result)
                               << " (" << ncclGetLastError(nullptr) << ")";
}

absl::Status NcclStatus(ncclResult_t result, const char* what) {
  if (result == ncclSuccess) return absl::OkStatus();
  const bool caller_error = result == ncclInvalidArgument || result == ncclInvalidUsage;
  return absl::Status(
      caller_error ? absl::StatusCode::kInvalidArgument : absl::StatusCode::kInternal,
      absl::StrCat("NcclCommunicator: ", what, ": ", ncclGetErrorString(result), " (",
                   ncclGetLastError(nullptr), ")"));
}

// ---- Owners of the device resources. ----

struct StreamDeleter {
  void operator()(cudaStream_t stream) const {
    LogIfCudaError(cudaStreamDestroy(stream), "cudaStreamDestroy");
  }
};
struct EventDeleter {
  void operator()(cudaEvent_t event) const {
    LogIfCudaError(cudaEventDestroy(event), "cudaEventDestroy");
  }
};
struct DeviceMemoryDeleter {
  void operator()(void* memory) const { LogIfCudaError(cudaFree(memory), "cudaFree"); }
};
struct CommDeleter {
  void operator()(ncclComm_t comm) const {
    const ncclResult_t result = ncclCommDestroy(comm);
    LOG_IF(ERROR, result != ncclSuccess)
        << "NcclCommunicator: ncclCommDestroy: " << ncclGetErrorString(result);
  }
};

using EventOwner = std::unique_ptr<std::remove_pointer_t<cudaEvent_t>, EventDeleter>;
using CommOwner = std::unique_ptr<std::remove_pointer_t<ncclComm_t>, CommDeleter>;
using DeviceMemoryOwner = std::unique_ptr<void, DeviceMemoryDeleter>;
// Shared by a communicator and the communicators Split from it on the same rank.
using SharedStream = std::shared_ptr<std::remove_pointer_t<cudaStream_t>>;

absl::StatusOr<SharedStream> NewCommStream() {
  cudaStream_t stream = nullptr;
  RETURN_IF_ERROR(CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
                             "cudaStreamCreateWithFlags"));
  return SharedStream(stream, StreamDeleter{});
}

absl::StatusOr<EventOwner> NewEvent(bool timing) {
  cudaEvent_t event = nullptr;
  RETURN_IF_ERROR(CudaStatus(
      cudaEventCreateWithFlags(&event, timing ? cudaEventDefault : cudaEventDisableTiming),
      "cudaEventCreateWithFlags"));
  return EventOwner(event);
}

absl::StatusOr<DeviceMemoryOwner> NewDeviceMemory(size_t bytes) {
  void* memory = nullptr;
  RETURN_IF_ERROR(CudaStatus(cudaMalloc(&memory, bytes), "cudaMalloc"));
  return DeviceMemoryOwner(memory);
}

// Restores the calling thread's current device when it goes out of scope.
class DeviceRestorer {
 public:
  DeviceRestorer() {
    if (cudaGetDevice(&device_) != cudaSuccess) device_ = -1;
  }
  ~DeviceRestorer() {
    if (device_ >= 0) LogIfCudaError(cudaSetDevice(device_), "cudaSetDevice (restore)");
  }
  DeviceRestorer(const DeviceRestorer&) = delete;
  DeviceRestorer& operator=(const DeviceRestorer&) = delete;

 private:
  int device_ = -1;
};

// Two timing events recorded on the comm stream around one collective of `kind`.
struct TimingPair {
  EventOwner start;
  EventOwner stop;
  CollectiveKind kind = CollectiveKind::kBroadcast;
  bool stall = false;  // brackets a wait of the compute stream, not a collective
};

}  // namespace

struct NcclRankState {
  NcclRankState() = default;
  NcclRankState(const NcclRankState&) = delete;
  NcclRankState& operator=(const NcclRankState&) = delete;
  // Waits for the comm stream, then releases the NCCL communicator before the events and stream.
  ~NcclRankState();

  cudaStream_t comm_stream() const { return comm_stream_owner.get(); }

  int device = 0;
  int rank = 0;
  int size = 0;
  cudaStream_t compute = nullptr;  // owned by the rank's backend
  SharedStream comm_stream_owner;
  CommOwner comm;
  EventOwner ready;                // recorded on the compute stream; the comm stream waits for it
  EventOwner done;                 // recorded on the comm stream after each collective
  DeviceMemoryOwner barrier_byte;  // [1] uint8, all-reduced by Barrier()
  bool deferred = false;
  bool deferred_pending = false;   // a deferred collective's `done` is not yet waited for
  bool timing_open = false;        // pending.back() awaits its stop event
  std::deque<TimingPair> pending;  // issue order, so completion order
  std::vector<TimingPair> spare;   // completed pairs for reuse
};

NcclRankState::~NcclRankState() {
  DeviceRestorer restore;
  LogIfCudaError(cudaSetDevice(device), "cudaSetDevice");
  if (comm_stream_owner != nullptr) {
    LogIfCudaError(cudaStreamSynchronize(comm_stream()), "cudaStreamSynchronize");
  }
  comm.reset();
  pending.clear();
  spare.clear();
  ready.reset();
  done.reset();
  barrier_byte.reset();
  comm_stream_owner.reset();
}

namespace {

// The state of one rank on `device`, around `comm`; a new comm stream when `comm_stream` is null.
absl::StatusOr<std::unique_ptr<NcclRankState>> MakeRankState(int device, cudaStream_t compute,
                                                             SharedStream comm_stream,
                                                             CommOwner comm) {
  auto state = std::make_unique<NcclRankState>();
  state->device = device;
  state->compute = compute;
  state->comm = std::move(comm);
  RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device), "cudaSetDevice"));
  RETURN_IF_ERROR(
      NcclStatus(ncclCommUserRank(state->comm.get(), &state->rank), "ncclCommUserRank"));
  RETURN_IF_ERROR(NcclStatus(ncclCommCount(state->comm.get(), &state->size), "ncclCommCount"));
  if (comm_stream == nullptr) {
    ASSIGN_OR_RETURN(comm_stream, NewCommStream());
  }
  state->comm_stream_owner = std::move(comm_stream);
  ASSIGN_OR_RETURN(state->ready, NewEvent(/*timing=*/false));
  ASSIGN_OR_RETURN(state->done, NewEvent(/*timing=*/false));
  ASSIGN_OR_RETURN(state->barrier_byte, NewDeviceMemory(1));
  return state;
}

absl::Status ValidateGroup(std::span<const int> devices, std::span<void* const> compute_streams) {
  if (devices.empty()) {
    return absl::InvalidArgumentError("NcclCommunicator::CreateGroup: no devices");
  }
  if (devices.size() != compute_streams.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("NcclCommunicator::CreateGroup: ", devices.size(), " devices but ",
                     compute_streams.size(), " compute streams"));
  }
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    (void)cudaGetLastError();  // a missing driver or device is an answer, not an error to keep
    return absl::FailedPreconditionError(
        absl::StrCat("NcclCommunicator::CreateGroup: no CUDA device: ", cudaGetErrorString(error)));
  }
  for (size_t i = 0; i < devices.size(); ++i) {
    if (devices[i] < 0 || devices[i] >= count) {
      return absl::InvalidArgumentError(
          absl::StrCat("NcclCommunicator::CreateGroup: device ", devices[i], " of ", count));
    }
  }
  return absl::OkStatus();
}

bool IsCapturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(stream, &status));
  return status != cudaStreamCaptureStatusNone;
}

TimingPair TakeTimingPair(NcclRankState& s, CollectiveKind kind) {
  TimingPair pair;
  if (s.spare.empty()) {
    absl::StatusOr<EventOwner> start = NewEvent(/*timing=*/true);
    absl::StatusOr<EventOwner> stop = NewEvent(/*timing=*/true);
    CHECK(start.ok() && stop.ok()) << (start.ok() ? stop.status() : start.status());
    pair.start = *std::move(start);
    pair.stop = *std::move(stop);
  } else {
    pair = std::move(s.spare.back());
    s.spare.pop_back();
  }
  pair.kind = kind;
  pair.stall = false;
  return pair;
}

// Sets the device, orders the comm stream after the work issued so far on the compute stream and
// opens the collective's timing pair (unless the compute stream is being captured into a graph).
// Returns the comm stream, on which the caller issues the collective before FinishCollective().
cudaStream_t BeginCollective(NcclRankState& s, CollectiveKind kind) {
  CUDA_CHECK(cudaSetDevice(s.device));
  cudaStream_t stream = s.comm_stream();
  CUDA_CHECK(cudaEventRecord(s.ready.get(), s.compute));
  CUDA_CHECK(cudaStreamWaitEvent(stream, s.ready.get(), 0));
  s.timing_open = !IsCapturing(s.compute);
  if (s.timing_open) {
    s.pending.push_back(TakeTimingPair(s, kind));
    CUDA_CHECK(cudaEventRecord(s.pending.back().start.get(), stream));
  }
  return stream;
}

// Makes the compute stream wait for the last collective issued, bracketing the wait with a timing
// pair on the compute stream: the first event completes when the compute work before it does, the
// second when the collective has too, so their distance is the stall the collective caused.
void WaitOnCompute(NcclRankState& s, CollectiveKind kind) {
  const bool timed = !IsCapturing(s.compute);
  if (timed) {
    s.pending.push_back(TakeTimingPair(s, kind));
    s.pending.back().stall = true;
    CUDA_CHECK(cudaEventRecord(s.pending.back().start.get(), s.compute));
  }
  CUDA_CHECK(cudaStreamWaitEvent(s.compute, s.done.get(), 0));
  if (timed) CUDA_CHECK(cudaEventRecord(s.pending.back().stop.get(), s.compute));
}

// ---- Buffers and sizes. ----

char* Bytes(const Tensor& t) { return static_cast<char*>(t.data()); }
int64_t NumBytes(const Tensor& t) { return static_cast<int64_t>(t.nbytes()); }
int64_t ElementSize(const Tensor& t) { return static_cast<int64_t>(DTypeSize(t.dtype())); }

// CHECKs that `t` is contiguous memory of this rank's device.
void CheckDeviceBuffer(const NcclRankState& s, const Tensor& t, const char* op, const char* what) {
  CHECK(t.device() == Device::kCuda) << op << ": " << what << " is not device memory";
  CHECK(t.is_contiguous()) << op << ": " << what << " " << t.ShapeString() << " is not contiguous";
  if (t.numel() == 0) return;
  CHECK(t.data() != nullptr) << op << ": " << what << " has no data";
  cudaPointerAttributes attributes{};
  CUDA_CHECK(cudaPointerGetAttributes(&attributes, t.data()));
  CHECK((attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged) &&
        attributes.device == s.device)
      << op << ": " << what << " is not memory of device " << s.device << " (memory type "
      << static_cast<int>(attributes.type) << " on device " << attributes.device << ")";
}

void CheckSendRecvBuffers(const NcclRankState& s, const Tensor& send, const Tensor& recv,
                          const char* op) {
  CheckDeviceBuffer(s, send, op, "send");
  CheckDeviceBuffer(s, recv, op, "recv");
  CHECK(send.dtype() == recv.dtype()) << op << ": send is " << DTypeName(send.dtype())
                                      << " but recv is " << DTypeName(recv.dtype());
}

bool Overlap(const Tensor& a, const Tensor& b) {
  if (a.nbytes() == 0 || b.nbytes() == 0) return false;
  return Bytes(a) < Bytes(b) + b.nbytes() && Bytes(b) < Bytes(a) + a.nbytes();
}

// CHECKs that `part` and `whole` are disjoint or `part` is exactly bytes [offset, offset +
// part.nbytes()) of `whole` (the in-place forms).
void CheckDisjointOrInPlace(const Tensor& part, const Tensor& whole, int64_t offset,
                            const char* op) {
  CHECK(!Overlap(part, whole) || Bytes(part) == Bytes(whole) + offset)
      << op << ": send and recv overlap but are not the in-place form";
}

int64_t RowBytes(const Tensor& t, const char* op) {
  CHECK_GE(t.rank(), 1) << op << ": a tensor of rank 0 has no rows";
  int64_t elements = 1;
  for (int i = 1; i < t.rank(); ++i) elements *= t.dim(i);
  return elements * ElementSize(t);
}

int64_t CheckRowBytes(const Tensor& send, const Tensor& recv, const char* op) {
  const int64_t row = RowBytes(send, op);
  CHECK_EQ(row, RowBytes(recv, op)) << op << ": send " << send.ShapeString() << " and recv "
                                    << recv.ShapeString() << " rows differ";
  return row;
}

int64_t SumRows(std::span<const int64_t> rows, const char* op) {
  int64_t total = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    CHECK_GE(rows[i], 0) << op << ": negative row count " << rows[i] << " for rank " << i;
    total += rows[i];
  }
  return total;
}

// The NCCL type a sum of `dtype` runs in.
ncclDataType_t SumType(DType dtype, const char* op) {
  switch (dtype) {
    case DType::kF32: return ncclFloat32;
    case DType::kF16: return ncclFloat16;
    case DType::kBF16: return ncclBfloat16;
    case DType::kI32: return ncclInt32;
    case DType::kI64: return ncclInt64;
    case DType::kU8: break;
  }
  LOG(FATAL) << op << ": cannot sum " << DTypeName(dtype);
  return ncclInt8;
}

// The contract's AllReduce bytes: n near-equal element blocks, the first numel % n one longer;
// this rank sends the blocks it does not reduce, then its reduced block to n - 1 peers.
int64_t AllReduceBytes(int64_t numel, int n, int rank, int64_t element_size) {
  const int64_t block = numel / n + (rank < numel % n ? 1 : 0);
  return (numel - block + (n - 1) * block) * element_size;
}

// ---- Point-to-point exchanges. ----

// Bytes [offset, offset + bytes) of a send or recv buffer, exchanged with one peer.
struct Block {
  int64_t offset = 0;
  int64_t bytes = 0;
};

// Blocks of `row` bytes each, `rows[i]` rows for peer i, laid out consecutively in rank order.
std::vector<Block> ConsecutiveBlocks(std::span<const int64_t> rows, int64_t row) {
  std::vector<Block> blocks(rows.size());
  int64_t offset = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    blocks[i] = {offset, rows[i] * row};
    offset += blocks[i].bytes;
  }
  return blocks;
}

// Sends to[j] of `send` to every rank j and receives from[i] of `recv` from every rank i, on
// `stream`: this rank's own block by a device-to-device copy, the rest as one NCCL group of
// ncclSend/ncclRecv. Empty blocks are skipped (their peers' matching blocks are empty too).
void ExchangeBlocks(NcclRankState& s, cudaStream_t stream, const char* send,
                    std::span<const Block> to, char* recv, std::span<const Block> from) {
  const Block& out = to[s.rank];
  const Block& in = from[s.rank];
  if (in.bytes > 0 && recv + in.offset != send + out.offset) {
    CUDA_CHECK(cudaMemcpyAsync(recv + in.offset, send + out.offset, static_cast<size_t>(in.bytes),
                               cudaMemcpyDeviceToDevice, stream));
  }
  CheckNccl(ncclGroupStart(), "ncclGroupStart");
  for (int peer = 0; peer < s.size; ++peer) {
    if (peer == s.rank) continue;
    if (to[peer].bytes > 0) {
      CheckNccl(ncclSend(send + to[peer].offset, static_cast<size_t>(to[peer].bytes), ncclUint8,
                         peer, s.comm.get(), stream),
                "ncclSend");
    }
    if (from[peer].bytes > 0) {
      CheckNccl(ncclRecv(recv + from[peer].offset, static_cast<size_t>(from[peer].bytes), ncclUint8,
                         peer, s.comm.get(), stream),
                "ncclRecv");
    }
  }
  CheckNccl(ncclGroupEnd(), "ncclGroupEnd");
}

void CheckPeerOps(const NcclRankState& s, std::span<const Communicator::PeerOp> ops,
                  const char* what) {
  for (const Communicator::PeerOp& op : ops) {
    CHECK(op.peer >= 0 && op.peer < s.size) << "SendRecv: peer " << op.peer << " of " << s.size;
    CheckDeviceBuffer(s, op.buffer, "SendRecv", what);
  }
}

// The ops of `ops` whose peer is this rank, in order.
std::vector<const Communicator::PeerOp*> SelfOps(const NcclRankState& s,
                                                 std::span<const Communicator::PeerOp> ops) {
  std::vector<const Communicator::PeerOp*> self;
  for (const Communicator::PeerOp& op : ops) {
    if (op.peer == s.rank) self.push_back(&op);
  }
  return self;
}

}  // namespace

// ---- Creation and lifetime. ----

absl::StatusOr<std::vector<std::unique_ptr<Communicator>>> NcclCommunicator::CreateGroup(
    std::span<const int> devices, std::span<void* const> compute_streams) {
  RETURN_IF_ERROR(ValidateGroup(devices, compute_streams));
  DeviceRestorer restore;
  const int n = static_cast<int>(devices.size());
  std::vector<ncclComm_t> raw(devices.size(), nullptr);
  RETURN_IF_ERROR(NcclStatus(ncclCommInitAll(raw.data(), n, devices.data()), "ncclCommInitAll"));
  std::vector<CommOwner> comms;
  for (ncclComm_t comm : raw) comms.emplace_back(comm);
  std::vector<std::unique_ptr<Communicator>> ranks;
  for (int r = 0; r < n; ++r) {
    ASSIGN_OR_RETURN(std::unique_ptr<NcclRankState> state,
                     MakeRankState(devices[r], static_cast<cudaStream_t>(compute_streams[r]),
                                   nullptr, std::move(comms[r])));
    ranks.push_back(std::unique_ptr<Communicator>(new NcclCommunicator(std::move(state))));
  }
  return ranks;
}

NcclCommunicator::NcclCommunicator(std::unique_ptr<NcclRankState> state)
    : state_(std::move(state)), rank_(state_->rank), size_(state_->size), device_(state_->device) {}

NcclCommunicator::~NcclCommunicator() = default;

std::unique_ptr<Communicator> NcclCommunicator::Split(int color, int key) {
  NcclRankState& s = *state_;
  CUDA_CHECK(cudaSetDevice(s.device));
  ncclComm_t child = nullptr;
  CheckNccl(
      ncclCommSplit(s.comm.get(), color < 0 ? NCCL_SPLIT_NOCOLOR : color, key, &child, nullptr),
      "ncclCommSplit");
  if (child == nullptr) return nullptr;
  absl::StatusOr<std::unique_ptr<NcclRankState>> state =
      MakeRankState(s.device, s.compute, s.comm_stream_owner, CommOwner(child));
  CHECK(state.ok()) << "NcclCommunicator::Split: " << state.status();
  return std::unique_ptr<Communicator>(new NcclCommunicator(*std::move(state)));
}

// ---- Ordering and statistics. ----

void NcclCommunicator::FinishCollective(CollectiveKind kind, int64_t bytes) {
  NcclRankState& s = *state_;
  cudaStream_t stream = s.comm_stream();
  if (s.timing_open) {
    CUDA_CHECK(cudaEventRecord(s.pending.back().stop.get(), stream));
    s.timing_open = false;
  }
  CUDA_CHECK(cudaEventRecord(s.done.get(), stream));
  s.deferred_pending = s.deferred;
  if (!s.deferred) WaitOnCompute(s, kind);
  Record(kind, bytes, 0.0);
  if (s.pending.size() > kMaxPendingTimings) {
    CUDA_CHECK(cudaEventSynchronize(s.pending.front().stop.get()));
    FlushStats();
  }
}

void NcclCommunicator::SetDeferred(bool deferred) { state_->deferred = deferred; }

void NcclCommunicator::WaitDeferred() {
  NcclRankState& s = *state_;
  // Nothing to wait for: waiting on `done` anyway would reach back to an event recorded outside
  // a graph being captured (or never recorded), which capture forbids.
  if (!s.deferred_pending) return;
  s.deferred_pending = false;
  CUDA_CHECK(cudaSetDevice(s.device));
  WaitOnCompute(s, CollectiveKind::kBroadcast);
}

void NcclCommunicator::FlushStats() {
  NcclRankState& s = *state_;
  CUDA_CHECK(cudaSetDevice(s.device));
  while (!s.pending.empty()) {
    TimingPair& pair = s.pending.front();
    const cudaError_t status = cudaEventQuery(pair.stop.get());
    if (status == cudaErrorNotReady) break;
    CUDA_CHECK(status);
    float milliseconds = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&milliseconds, pair.start.get(), pair.stop.get()));
    if (pair.stall) {
      AddExposedSeconds(1e-3 * static_cast<double>(milliseconds));
    } else {
      AddSeconds(pair.kind, 1e-3 * static_cast<double>(milliseconds));
    }
    s.spare.push_back(std::move(pair));
    s.pending.pop_front();
  }
}

// ---- Collectives. ----

void NcclCommunicator::Broadcast(const Tensor& buffer, int root) {
  NcclRankState& s = *state_;
  CheckDeviceBuffer(s, buffer, "Broadcast", "buffer");
  CHECK(root >= 0 && root < size_) << "Broadcast: root " << root << " of " << size_ << " ranks";
  cudaStream_t stream = BeginCollective(s, CollectiveKind::kBroadcast);
  if (buffer.nbytes() > 0) {
    CheckNccl(ncclBroadcast(buffer.data(), buffer.data(), buffer.nbytes(), ncclUint8, root,
                            s.comm.get(), stream),
              "ncclBroadcast");
  }
  FinishCollective(CollectiveKind::kBroadcast, rank_ == root ? (size_ - 1) * NumBytes(buffer) : 0);
}

void NcclCommunicator::AllGather(const Tensor& send, const Tensor& recv) {
  NcclRankState& s = *state_;
  CheckSendRecvBuffers(s, send, recv, "AllGather");
  CHECK_EQ(recv.numel(), size_ * send.numel())
      << "AllGather: recv " << recv.ShapeString() << " must hold " << size_ << " x send "
      << send.ShapeString();
  CheckDisjointOrInPlace(send, recv, rank_ * NumBytes(send), "AllGather");
  cudaStream_t stream = BeginCollective(s, CollectiveKind::kAllGather);
  if (send.nbytes() > 0) {
    CheckNccl(
        ncclAllGather(send.data(), recv.data(), send.nbytes(), ncclUint8, s.comm.get(), stream),
        "ncclAllGather");
  }
  FinishCollective(CollectiveKind::kAllGather, (size_ - 1) * NumBytes(send));
}

void NcclCommunicator::AllGatherV(const Tensor& send, const Tensor& recv,
                                  std::span<const int64_t> rows_per_rank) {
  NcclRankState& s = *state_;
  CheckSendRecvBuffers(s, send, recv, "AllGatherV");
  CHECK_EQ(rows_per_rank.size(), static_cast<size_t>(size_)) << "AllGatherV: rows_per_rank";
  const int64_t row = CheckRowBytes(send, recv, "AllGatherV");
  CHECK_EQ(send.dim(0), rows_per_rank[rank_]) << "AllGatherV: send rows of rank " << rank_;
  CHECK_EQ(recv.dim(0), SumRows(rows_per_rank, "AllGatherV"))
      << "AllGatherV: recv rows must be the sum of rows_per_rank";
  const std::vector<Block> from = ConsecutiveBlocks(rows_per_rank, row);
  CheckDisjointOrInPlace(send, recv, from[rank_].offset, "AllGatherV");
  const std::vector<Block> to(static_cast<size_t>(size_), Block{0, NumBytes(send)});
  cudaStream_t stream = BeginCollective(s, CollectiveKind::kAllGather);
  ExchangeBlocks(s, stream, Bytes(send), to, Bytes(recv), from);
  FinishCollective(CollectiveKind::kAllGather, (size_ - 1) * NumBytes(send));
}

void NcclCommunicator::ReduceScatter(const Tensor& send, const Tensor& recv) {
  NcclRankState& s = *state_;
  CheckSendRecvBuffers(s, send, recv, "ReduceScatter");
  const ncclDataType_t type = SumType(send.dtype(), "ReduceScatter");
  CHECK_EQ(send.numel(), size_ * recv.numel())
      << "ReduceScatter: send " << send.ShapeString() << " must hold " << size_ << " x recv "
      << recv.ShapeString();
  CheckDisjointOrInPlace(recv, send, rank_ * NumBytes(recv), "ReduceScatter");
  cudaStream_t stream = BeginCollective(s, CollectiveKind::kReduceScatter);
  if (recv.numel() > 0) {
    CheckNccl(ncclReduceScatter(send.data(), recv.data(), static_cast<size_t>(recv.numel()), type,
                                ncclSum, s.comm.get(), stream),
              "ncclReduceScatter");
  }
  FinishCollective(CollectiveKind::kReduceScatter, (size_ - 1) * NumBytes(recv));
}

void NcclCommunicator::AllReduce(const Tensor& buffer) {
  NcclRankState& s = *state_;
  CheckDeviceBuffer(s, buffer, "AllReduce", "buffer");
  const ncclDataType_t type = SumType(buffer.dtype(), "AllReduce");
  cudaStream_t stream = BeginCollective(s, CollectiveKind::kAllReduce);
  if (buffer.numel() > 0) {
    CheckNccl(ncclAllReduce(buffer.data(), buffer.data(), static_cast<size_t>(buffer.numel()), type,
                            ncclSum, s.comm.get(), stream),
              "ncclAllReduce");
  }
  FinishCollective(CollectiveKind::kAllReduce,
                   AllReduceBytes(buffer.numel(), size_, rank_, ElementSize(buffer)));
}

void NcclCommunicator::AllToAll(const Tensor& send, const Tensor& recv) {
  NcclRankState& s = *state_;
  CheckSendRecvBuffers(s, send, recv, "AllToAll");
  CHECK(send.rank() >= 1 && send.dim(0) % size_ == 0 && send.numel() == recv.numel())
      << "AllToAll: send " << send.ShapeString() << " and recv " << recv.ShapeString()
      << " must be equal and split in " << size_ << " blocks along dim 0";
  CHECK(!Overlap(send, recv)) << "AllToAll: send and recv overlap";
  const std::vector<int64_t> rows(static_cast<size_t>(size_), 1);
  const std::vector<Block> blocks = ConsecutiveBlocks(rows, NumBytes(send) / size_);
  cudaStream_t stream = BeginCollective(s, CollectiveKind::kAllToAll);
  ExchangeBlocks(s, stream, Bytes(send), blocks, Bytes(recv), blocks);
  FinishCollective(CollectiveKind::kAllToAll, NumBytes(send) - NumBytes(send) / size_);
}

void NcclCommunicator::AllToAllV(const Tensor& send, std::span<const int64_t> send_rows,
                                 const Tensor& recv, std::span<const int64_t> recv_rows) {
  NcclRankState& s = *state_;
  CheckSendRecvBuffers(s, send, recv, "AllToAllV");
  CHECK(send_rows.size() == static_cast<size_t>(size_) &&
        recv_rows.size() == static_cast<size_t>(size_))
      << "AllToAllV: send_rows and recv_rows need " << size_ << " entries";
  const int64_t row = CheckRowBytes(send, recv, "AllToAllV");
  CHECK_EQ(send.dim(0), SumRows(send_rows, "AllToAllV")) << "AllToAllV: send rows";
  CHECK_EQ(recv.dim(0), SumRows(recv_rows, "AllToAllV")) << "AllToAllV: recv rows";
  CHECK_EQ(send_rows[rank_], recv_rows[rank_])
      << "AllToAllV: rank " << rank_ << " keeps " << send_rows[rank_] << " rows but expects "
      << recv_rows[rank_] << " from itself";
  CHECK(!Overlap(send, recv)) << "AllToAllV: send and recv overlap";
  const std::vector<Block> to = ConsecutiveBlocks(send_rows, row);
  const std::vector<Block> from = ConsecutiveBlocks(recv_rows, row);
  cudaStream_t stream = BeginCollective(s, CollectiveKind::kAllToAll);
  ExchangeBlocks(s, stream, Bytes(send), to, Bytes(recv), from);
  FinishCollective(CollectiveKind::kAllToAll, NumBytes(send) - send_rows[rank_] * row);
}

void NcclCommunicator::SendRecv(std::span<const PeerOp> sends, std::span<const PeerOp> recvs) {
  NcclRankState& s = *state_;
  CheckPeerOps(s, sends, "a send buffer");
  CheckPeerOps(s, recvs, "a recv buffer");
  const std::vector<const PeerOp*> self_sends = SelfOps(s, sends);
  const std::vector<const PeerOp*> self_recvs = SelfOps(s, recvs);
  CHECK_EQ(self_sends.size(), self_recvs.size())
      << "SendRecv: rank " << rank_ << " sends " << self_sends.size()
      << " buffers to itself but receives " << self_recvs.size();
  int64_t bytes_to_others = 0;
  for (const PeerOp& op : sends) {
    if (op.peer != rank_) bytes_to_others += NumBytes(op.buffer);
  }
  cudaStream_t stream = BeginCollective(s, CollectiveKind::kSendRecv);
  for (size_t k = 0; k < self_sends.size(); ++k) {
    const Tensor& from = self_sends[k]->buffer;
    const Tensor& to = self_recvs[k]->buffer;
    CHECK_EQ(from.nbytes(), to.nbytes())
        << "SendRecv: send " << k << " of rank " << rank_ << " to itself does not match its recv";
    if (to.nbytes() > 0 && to.data() != from.data()) {
      CUDA_CHECK(
          cudaMemcpyAsync(to.data(), from.data(), to.nbytes(), cudaMemcpyDeviceToDevice, stream));
    }
  }
  CheckNccl(ncclGroupStart(), "ncclGroupStart");
  for (const PeerOp& op : sends) {
    if (op.peer == rank_ || op.buffer.nbytes() == 0) continue;
    CheckNccl(
        ncclSend(op.buffer.data(), op.buffer.nbytes(), ncclUint8, op.peer, s.comm.get(), stream),
        "ncclSend");
  }
  for (const PeerOp& op : recvs) {
    if (op.peer == rank_ || op.buffer.nbytes() == 0) continue;
    CheckNccl(
        ncclRecv(op.buffer.data(), op.buffer.nbytes(), ncclUint8, op.peer, s.comm.get(), stream),
        "ncclRecv");
  }
  CheckNccl(ncclGroupEnd(), "ncclGroupEnd");
  FinishCollective(CollectiveKind::kSendRecv, bytes_to_others);
}

void NcclCommunicator::Barrier() {
  NcclRankState& s = *state_;
  CUDA_CHECK(cudaSetDevice(s.device));
  CheckNccl(ncclAllReduce(s.barrier_byte.get(), s.barrier_byte.get(), 1, ncclUint8, ncclSum,
                          s.comm.get(), s.comm_stream()),
            "ncclAllReduce (Barrier)");
  CUDA_CHECK(cudaStreamSynchronize(s.comm_stream()));
  FlushStats();
}

}  // namespace tspserve
