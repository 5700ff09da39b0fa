// NcclCommunicator on real GPUs: every collective of the Communicator contract, mirrored from
// local_communicator_test.cc, plus the device-only behaviour (stream ordering, deferred mode,
// timing statistics). Group sizes 1 to 4 each run when the machine has that many CUDA devices and
// skip otherwise, so the suite skips cleanly on a machine without a GPU.
//
// With TSPSERVE_NCCL_TEST_ONE_GPU=1 and NCCL_MULTI_RANK_GPU_ENABLE=1 (NCCL versions that have it)
// every rank runs on device 0, so a single GPU runs every group size.
#include "engine/comm/nccl_communicator.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/comm/local_communicator.h"
#include "gtest/gtest.h"

namespace tspserve {
namespace {

using PeerOp = Communicator::PeerOp;

void CudaOk(cudaError_t error, const char* what) {
  CHECK(error == cudaSuccess) << what << ": " << cudaGetErrorString(error);
}

// CUDA devices visible here; 0 when there is no driver or no device.
int DeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

bool AllRanksOnOneGpu() {
  const char* value = std::getenv("TSPSERVE_NCCL_TEST_ONE_GPU");
  return value != nullptr && std::string(value) == "1";
}

// The device of rank r in the groups made here.
int DeviceOf(int rank) { return AllRanksOnOneGpu() ? 0 : rank; }

// The largest group the tests can make.
int MaxRanks() {
  const int devices = DeviceCount();
  return AllRanksOnOneGpu() && devices >= 1 ? 4 : devices;
}

// One non-blocking stream per rank 0..n-1, on its device: the ranks' "compute streams".
class ComputeStreams {
 public:
  explicit ComputeStreams(int n) {
    for (int r = 0; r < n; ++r) {
      CudaOk(cudaSetDevice(DeviceOf(r)), "cudaSetDevice");
      cudaStream_t stream = nullptr;
      CudaOk(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
      handles_.push_back(stream);
    }
  }
  ~ComputeStreams() {
    for (size_t r = 0; r < handles_.size(); ++r) {
      CudaOk(cudaSetDevice(DeviceOf(static_cast<int>(r))), "cudaSetDevice");
      CudaOk(cudaStreamDestroy(get(static_cast<int>(r))), "cudaStreamDestroy");
    }
  }
  ComputeStreams(const ComputeStreams&) = delete;
  ComputeStreams& operator=(const ComputeStreams&) = delete;

  cudaStream_t get(int rank) const { return static_cast<cudaStream_t>(handles_[rank]); }
  std::span<void* const> handles() const { return handles_; }

 private:
  std::vector<void*> handles_;
};

std::vector<std::unique_ptr<Communicator>> MakeGroup(const ComputeStreams& streams) {
  std::vector<int> devices(streams.handles().size());
  for (size_t r = 0; r < devices.size(); ++r) devices[r] = DeviceOf(static_cast<int>(r));
  absl::StatusOr<std::vector<std::unique_ptr<Communicator>>> group =
      NcclCommunicator::CreateGroup(devices, streams.handles());
  CHECK(group.ok()) << group.status();
  return *std::move(group);
}

// Runs body(comm, stream) on one thread per rank (rank r on DeviceOf(r), its current device) of a
// fresh group of `n`, synchronizes each compute stream and joins. Bodies use EXPECT, not ASSERT: a
// rank that returned early would leave its peers waiting in the next collective.
using RankBody = std::function<void(Communicator&, cudaStream_t)>;
void RunRanks(int n, const RankBody& body) {
  ComputeStreams streams(n);
  std::vector<std::unique_ptr<Communicator>> comms = MakeGroup(streams);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&body, &streams, comm = comms[r].get(), r] {
      CudaOk(cudaSetDevice(DeviceOf(r)), "cudaSetDevice");
      body(*comm, streams.get(r));
      CudaOk(cudaStreamSynchronize(streams.get(r)), "cudaStreamSynchronize");
    });
  }
  for (std::thread& t : threads) t.join();
  comms.clear();
}

template <typename T>
DType DTypeOf();
template <>
DType DTypeOf<int32_t>() {
  return DType::kI32;
}
template <>
DType DTypeOf<int64_t>() {
  return DType::kI64;
}
template <>
DType DTypeOf<float>() {
  return DType::kF32;
}

// `count` elements of T on the calling thread's device, first filled with 0xFF bytes (NaN for
// floats, -1 for integers) so a test sees every element a collective failed to write. Reads and
// writes go through `stream`, so they are ordered with the collectives like a backend's work.
template <typename T>
class DeviceArray {
 public:
  DeviceArray(int64_t count, cudaStream_t stream) : count_(count), stream_(stream) {
    if (count_ == 0) return;
    CudaOk(cudaMalloc(&data_, bytes()), "cudaMalloc");
    CudaOk(cudaMemsetAsync(data_, 0xFF, bytes(), stream_), "cudaMemsetAsync");
  }
  DeviceArray(const std::vector<T>& values, cudaStream_t stream)
      : DeviceArray(static_cast<int64_t>(values.size()), stream) {
    Write(values);
  }
  ~DeviceArray() {
    if (data_ != nullptr) CudaOk(cudaFree(data_), "cudaFree");
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  void Write(const std::vector<T>& values) {
    CHECK_EQ(static_cast<int64_t>(values.size()), count_);
    if (count_ == 0) return;
    CudaOk(cudaMemcpyAsync(data_, values.data(), bytes(), cudaMemcpyHostToDevice, stream_),
           "cudaMemcpyAsync H2D");
  }
  std::vector<T> Read() const {
    std::vector<T> values(static_cast<size_t>(count_));
    if (count_ > 0) {
      CudaOk(cudaMemcpyAsync(values.data(), data_, bytes(), cudaMemcpyDeviceToHost, stream_),
             "cudaMemcpyAsync D2H");
    }
    CudaOk(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    return values;
  }
  T* data() const { return static_cast<T*>(data_); }
  Tensor View(std::initializer_list<int64_t> shape) const { return ViewAs(DTypeOf<T>(), shape); }
  Tensor ViewAs(DType dtype, std::initializer_list<int64_t> shape) const {
    Tensor t(data_, dtype, shape, Device::kCuda);
    CHECK_EQ(t.nbytes(), bytes()) << "view " << t.ShapeString() << " of " << count_ << " elements";
    return t;
  }

 private:
  size_t bytes() const { return static_cast<size_t>(count_) * sizeof(T); }

  void* data_ = nullptr;
  int64_t count_;
  cudaStream_t stream_;
};

template <typename T>
std::vector<T> Slice(const std::vector<T>& v, int64_t begin, int64_t end) {
  return std::vector<T>(v.begin() + begin, v.begin() + end);
}

// ---- Values (as in local_communicator_test.cc). ----

// A distinct value for element i of rank r's data in round `salt` (fits I32 even summed 4 times).
int64_t Val(int rank, int64_t i, int64_t salt) { return salt * 100003 + rank * 10007 + i * 3 + 1; }

template <typename T>
std::vector<T> Values(int rank, int64_t count, int64_t salt) {
  std::vector<T> v(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) v[i] = static_cast<T>(Val(rank, i, salt));
  return v;
}

template <typename T>
std::vector<T> SumOverRanks(int n, int64_t count, int64_t salt, int64_t first = 0) {
  std::vector<T> v(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    int64_t sum = 0;
    for (int r = 0; r < n; ++r) sum += Val(r, first + i, salt);
    v[i] = static_cast<T>(sum);
  }
  return v;
}

// Rows rank r contributes to AllGatherV in round `salt`; zero for some rank whenever n >= 2.
int64_t GatherRows(int rank, int64_t salt) {
  constexpr int64_t kRows[] = {2, 0, 3, 1};
  return kRows[(rank + salt) % 4];
}

// Rows that rank i sends to rank j in AllToAllV round `salt`; some are zero.
int64_t ExchangeRows(int i, int j, int64_t salt) { return (i + 2 * j + salt) % 3; }

// Element k of the block that rank `from` sends to rank `to`.
int64_t ExchangeVal(int from, int to, int64_t k, int64_t salt) {
  return salt * 100003 + from * 1009 + to * 101 + k;
}

// ---- Rounds: fill this rank's inputs, run one collective, EXPECT the exact result. ----

void BroadcastRound(Communicator& comm, cudaStream_t stream, int root, int64_t salt) {
  DeviceArray<int32_t> buffer(Values<int32_t>(comm.rank(), 15, salt), stream);
  comm.Broadcast(buffer.View({3, 5}), root);
  EXPECT_EQ(buffer.Read(), Values<int32_t>(root, 15, salt))
      << "root " << root << " rank " << comm.rank();
}

void AllGatherRound(Communicator& comm, cudaStream_t stream, int64_t rows, int64_t salt) {
  const int n = comm.size();
  DeviceArray<int64_t> send(Values<int64_t>(comm.rank(), rows * 3, salt), stream);
  DeviceArray<int64_t> recv(n * rows * 3, stream);
  comm.AllGather(send.View({rows, 3}), recv.View({n * rows, 3}));
  const std::vector<int64_t> got = recv.Read();
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(Slice(got, r * rows * 3, (r + 1) * rows * 3), Values<int64_t>(r, rows * 3, salt))
        << "block " << r << " on rank " << comm.rank();
  }
}

void AllGatherVRound(Communicator& comm, cudaStream_t stream, int64_t salt) {
  std::vector<int64_t> rows(static_cast<size_t>(comm.size()));
  int64_t total = 0;
  for (int r = 0; r < comm.size(); ++r) total += rows[r] = GatherRows(r, salt);
  const int64_t mine = rows[comm.rank()];
  DeviceArray<int32_t> send(Values<int32_t>(comm.rank(), mine * 3, salt), stream);
  DeviceArray<int32_t> recv(total * 3, stream);
  comm.AllGatherV(send.View({mine, 3}), recv.View({total, 3}), rows);
  std::vector<int32_t> expected;
  for (int r = 0; r < comm.size(); ++r) {
    const std::vector<int32_t> part = Values<int32_t>(r, rows[r] * 3, salt);
    expected.insert(expected.end(), part.begin(), part.end());
  }
  EXPECT_EQ(recv.Read(), expected) << "rank " << comm.rank() << " salt " << salt;
}

void ReduceScatterRound(Communicator& comm, cudaStream_t stream, int64_t salt) {
  const int n = comm.size();
  constexpr int64_t kBlock = 3 * 2;  // recv [3, 2]
  DeviceArray<int32_t> send(Values<int32_t>(comm.rank(), n * kBlock, salt), stream);
  DeviceArray<int32_t> recv(kBlock, stream);
  comm.ReduceScatter(send.View({n * 3, 2}), recv.View({3, 2}));
  EXPECT_EQ(recv.Read(), SumOverRanks<int32_t>(n, kBlock, salt, comm.rank() * kBlock));
}

template <typename T>
void AllReduceRound(Communicator& comm, cudaStream_t stream, int64_t count, int64_t salt) {
  DeviceArray<T> buffer(Values<T>(comm.rank(), count, salt), stream);
  comm.AllReduce(buffer.View({count}));
  EXPECT_EQ(buffer.Read(), SumOverRanks<T>(comm.size(), count, salt)) << count << " elements";
}

void AllToAllRound(Communicator& comm, cudaStream_t stream, int64_t salt) {
  const int n = comm.size();
  constexpr int64_t kBlock = 2 * 3;  // [2, 3] rows per peer
  std::vector<int32_t> values(static_cast<size_t>(n * kBlock)), expected(values.size());
  for (int j = 0; j < n; ++j) {
    for (int64_t k = 0; k < kBlock; ++k) {
      values[j * kBlock + k] = static_cast<int32_t>(ExchangeVal(comm.rank(), j, k, salt));
      expected[j * kBlock + k] = static_cast<int32_t>(ExchangeVal(j, comm.rank(), k, salt));
    }
  }
  DeviceArray<int32_t> send(values, stream);
  DeviceArray<int32_t> recv(n * kBlock, stream);
  comm.AllToAll(send.View({n * 2, 3}), recv.View({n * 2, 3}));
  EXPECT_EQ(recv.Read(), expected) << "rank " << comm.rank();
}

void AllToAllVRound(Communicator& comm, cudaStream_t stream, int64_t salt) {
  const int n = comm.size(), me = comm.rank();
  constexpr int64_t kWidth = 2;
  std::vector<int64_t> send_rows(n), recv_rows(n), values, expected;
  for (int j = 0; j < n; ++j) {
    send_rows[j] = ExchangeRows(me, j, salt);
    recv_rows[j] = ExchangeRows(j, me, salt);
    for (int64_t k = 0; k < send_rows[j] * kWidth; ++k) {
      values.push_back(ExchangeVal(me, j, k, salt));
    }
    for (int64_t k = 0; k < recv_rows[j] * kWidth; ++k) {
      expected.push_back(ExchangeVal(j, me, k, salt));
    }
  }
  const int64_t send_total = static_cast<int64_t>(values.size()) / kWidth;
  const int64_t recv_total = static_cast<int64_t>(expected.size()) / kWidth;
  DeviceArray<int64_t> send(values, stream);
  DeviceArray<int64_t> recv(recv_total * kWidth, stream);
  comm.AllToAllV(send.View({send_total, kWidth}), send_rows, recv.View({recv_total, kWidth}),
                 recv_rows);
  EXPECT_EQ(recv.Read(), expected) << "rank " << me << " salt " << salt;
}

// The MLP schedule: each rank's shard travels the ring (send to p+1, receive from p-1) for n steps,
// double-buffered, so every rank meets every shard once and ends holding its own again.
void RingShardRound(Communicator& comm, cudaStream_t stream, int64_t salt) {
  const int n = comm.size(), me = comm.rank();
  DeviceArray<int32_t> a(Values<int32_t>(me, 6, salt), stream);
  DeviceArray<int32_t> b(6, stream);
  DeviceArray<int32_t>* current = &a;
  DeviceArray<int32_t>* next = &b;
  for (int step = 0; step < n; ++step) {
    EXPECT_EQ(current->Read(), Values<int32_t>((me - step + n) % n, 6, salt)) << "step " << step;
    const PeerOp send{(me + 1) % n, current->View({2, 3})};
    const PeerOp recv{(me - 1 + n) % n, next->View({2, 3})};
    comm.SendRecv({&send, 1}, {&recv, 1});
    std::swap(current, next);
  }
  EXPECT_EQ(current->Read(), Values<int32_t>(me, 6, salt)) << "rank " << me << " after the ring";
}

// ---- Tests for every group size. ----

class NcclGroupTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    const int ranks = MaxRanks();
    if (ranks < GetParam()) {
      GTEST_SKIP() << "needs " << GetParam() << " CUDA devices, found " << ranks;
    }
  }
  int n() const { return GetParam(); }
};

// N=1 is a group of one (every collective a local copy), so one GPU already tests the stream
// ordering, deferral and statistics; 2 to 4 need that many devices.
INSTANTIATE_TEST_SUITE_P(Sizes, NcclGroupTest, ::testing::Values(1, 2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                           return "N" + std::to_string(param_info.param);
                         });

TEST_P(NcclGroupTest, CreateGroupNumbersRanks) {
  ComputeStreams streams(n());
  std::vector<std::unique_ptr<Communicator>> comms = MakeGroup(streams);
  ASSERT_EQ(comms.size(), static_cast<size_t>(n()));
  for (int r = 0; r < n(); ++r) {
    EXPECT_EQ(comms[r]->rank(), r);
    EXPECT_EQ(comms[r]->size(), n());
    EXPECT_EQ(static_cast<NcclCommunicator*>(comms[r].get())->device(), DeviceOf(r));
  }
}

TEST_P(NcclGroupTest, BroadcastFromEveryRootInPlace) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    for (int root = 0; root < comm.size(); ++root) BroadcastRound(comm, stream, root, root);
    DeviceArray<int64_t> empty(0, stream);
    comm.Broadcast(empty.View({0, 4}), comm.size() - 1);
  });
}

TEST_P(NcclGroupTest, AllGatherConcatenatesInRankOrder) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    AllGatherRound(comm, stream, 2, 0);
    AllGatherRound(comm, stream, 1, 1);
    AllGatherRound(comm, stream, 0, 2);
    AllGatherRound(comm, stream, 4099, 3);  // odd and larger than one NCCL slice per rank
  });
}

TEST_P(NcclGroupTest, AllGatherInPlace) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    const int n = comm.size(), me = comm.rank();
    std::vector<int32_t> values(static_cast<size_t>(n * 4), -1);
    const std::vector<int32_t> mine = Values<int32_t>(me, 4, 5);
    std::copy(mine.begin(), mine.end(), values.begin() + me * 4);
    DeviceArray<int32_t> recv(values, stream);
    const Tensor all = recv.View({n * 2, 2});
    comm.AllGather(all.Slice(me * 2, me * 2 + 2), all);
    const std::vector<int32_t> got = recv.Read();
    for (int r = 0; r < n; ++r) EXPECT_EQ(Slice(got, r * 4, r * 4 + 4), Values<int32_t>(r, 4, 5));
  });
}

TEST_P(NcclGroupTest, AllGatherVWithUnequalAndZeroRows) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    for (int64_t salt = 0; salt < 4; ++salt) AllGatherVRound(comm, stream, salt);
  });
}

TEST_P(NcclGroupTest, AllGatherVWhenNoRankHasRows) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    const std::vector<int64_t> rows(static_cast<size_t>(comm.size()), 0);
    DeviceArray<int32_t> send(0, stream), recv(0, stream);
    comm.AllGatherV(send.View({0, 7}), recv.View({0, 7}), rows);
  });
}

TEST_P(NcclGroupTest, ReduceScatterSumsBlocks) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    ReduceScatterRound(comm, stream, 0);
    ReduceScatterRound(comm, stream, 1);
  });
}

TEST_P(NcclGroupTest, ReduceScatterInPlace) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    const int n = comm.size(), me = comm.rank();
    DeviceArray<int64_t> buffer(Values<int64_t>(me, n * 5, 3), stream);
    const Tensor send = buffer.View({n * 5});
    comm.ReduceScatter(send, send.Slice(me * 5, me * 5 + 5));
    EXPECT_EQ(Slice(buffer.Read(), me * 5, me * 5 + 5), SumOverRanks<int64_t>(n, 5, 3, me * 5));
  });
}

TEST_P(NcclGroupTest, AllReduceIntegersOfAwkwardSizes) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    // 7 and 1031 do not divide by 2, 3 or 4; 1 and 2 leave some ranks an empty block; 0 is empty;
    // 2^20 + 5 spans many NCCL chunks.
    for (int64_t count : {7, 1031, 1, 2, 0, (1 << 20) + 5}) {
      AllReduceRound<int32_t>(comm, stream, count, count % 97);
      AllReduceRound<int64_t>(comm, stream, count, count % 97 + 1);
    }
  });
}

TEST_P(NcclGroupTest, AllReduceF32IsExactOnRepresentableValues) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    std::vector<float> values(9);
    for (int i = 0; i < 9; ++i) values[i] = 0.25f * static_cast<float>(comm.rank() + 1) - i;
    DeviceArray<float> buffer(values, stream);
    comm.AllReduce(buffer.View({3, 3}));
    const std::vector<float> got = buffer.Read();
    const int n = comm.size();
    for (int i = 0; i < 9; ++i) {
      EXPECT_EQ(got[i], 0.25f * static_cast<float>(n * (n + 1) / 2) - static_cast<float>(n * i));
    }
  });
}

// Every partial sum below is exact in bf16 and f16, so the result does not depend on NCCL's
// order or on where it rounds (see the deviation in nccl_communicator.h).
TEST_P(NcclGroupTest, AllReduceBf16AndF16OnExactValues) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    const int n = comm.size(), me = comm.rank();
    constexpr int64_t kCount = 37;
    std::vector<uint16_t> bf16(kCount), f16(kCount);
    for (int64_t i = 0; i < kCount; ++i) {
      const float v = 0.5f * static_cast<float>(me + 1) - static_cast<float>(i % 5) * me;
      bf16[i] = FloatToBf16(v);
      f16[i] = FloatToF16(v);
    }
    DeviceArray<uint16_t> bf16_buffer(bf16, stream), f16_buffer(f16, stream);
    comm.AllReduce(bf16_buffer.ViewAs(DType::kBF16, {kCount}));
    comm.AllReduce(f16_buffer.ViewAs(DType::kF16, {kCount}));
    const std::vector<uint16_t> got_bf16 = bf16_buffer.Read(), got_f16 = f16_buffer.Read();
    for (int64_t i = 0; i < kCount; ++i) {
      const float expected = 0.25f * static_cast<float>(n * (n + 1)) -
                             static_cast<float>(i % 5) * static_cast<float>(n * (n - 1) / 2);
      EXPECT_EQ(Bf16ToFloat(got_bf16[i]), expected) << "bf16 element " << i;
      EXPECT_EQ(F16ToFloat(got_f16[i]), expected) << "f16 element " << i;
    }
  });
}

TEST_P(NcclGroupTest, ReduceScatterBf16) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    const int n = comm.size();
    std::vector<uint16_t> values(static_cast<size_t>(2 * n));
    for (int j = 0; j < 2 * n; ++j) values[j] = FloatToBf16(static_cast<float>(comm.rank() + j));
    DeviceArray<uint16_t> send(values, stream), recv(2, stream);
    comm.ReduceScatter(send.ViewAs(DType::kBF16, {2 * n}), recv.ViewAs(DType::kBF16, {2}));
    const std::vector<uint16_t> got = recv.Read();
    for (int k = 0; k < 2; ++k) {
      const int j = 2 * comm.rank() + k;
      EXPECT_EQ(Bf16ToFloat(got[k]), static_cast<float>(n * (n - 1) / 2 + n * j));
    }
  });
}

TEST_P(NcclGroupTest, AllToAllExchangesBlocks) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    AllToAllRound(comm, stream, 0);
    AllToAllRound(comm, stream, 1);
  });
}

TEST_P(NcclGroupTest, AllToAllVWithZeroBlocks) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    for (int64_t salt = 0; salt < 3; ++salt) AllToAllVRound(comm, stream, salt);
  });
}

TEST_P(NcclGroupTest, RingSendRecvCirculatesShardsForNSteps) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) { RingShardRound(comm, stream, 0); });
}

TEST_P(NcclGroupTest, RingSendRecvLeavesEveryRankWithEveryBlock) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    const int n = comm.size(), me = comm.rank();
    constexpr int64_t kWidth = 5;
    std::vector<int32_t> values(static_cast<size_t>(n * kWidth), -1);
    const std::vector<int32_t> mine = Values<int32_t>(me, kWidth, 0);
    std::copy(mine.begin(), mine.end(), values.begin() + me * kWidth);
    DeviceArray<int32_t> blocks(values, stream);
    const Tensor all = blocks.View({n, kWidth});
    for (int step = 0; step + 1 < n; ++step) {
      const int outgoing = (me - step + n) % n, incoming = (me - step - 1 + 2 * n) % n;
      const PeerOp send{(me + 1) % n, all.Slice(outgoing, outgoing + 1)};
      const PeerOp recv{(me - 1 + n) % n, all.Slice(incoming, incoming + 1)};
      comm.SendRecv({&send, 1}, {&recv, 1});
    }
    const std::vector<int32_t> got = blocks.Read();
    for (int b = 0; b < n; ++b) {
      EXPECT_EQ(Slice(got, b * kWidth, (b + 1) * kWidth), Values<int32_t>(b, kWidth, 0))
          << "block " << b << " on rank " << me;
    }
  });
}

TEST_P(NcclGroupTest, SendRecvPairsOpsInOrderPerPeerIncludingSelf) {
  // Every rank sends two buffers ([1] then [3]) to every rank, itself included, listing sends by
  // ascending peer and receives by descending peer: pairing must go by peer and order.
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    const int n = comm.size(), me = comm.rank();
    std::vector<int64_t> values(static_cast<size_t>(4 * n));
    for (int p = 0; p < n; ++p) {
      for (int k = 0; k < 4; ++k) values[4 * p + k] = ExchangeVal(me, p, k, 7);
    }
    DeviceArray<int64_t> out(values, stream), in(4 * n, stream);
    std::vector<PeerOp> sends, recvs;
    for (int p = 0; p < n; ++p) {
      sends.push_back({p, Tensor(out.data() + 4 * p, DType::kI64, {1}, Device::kCuda)});
      sends.push_back({p, Tensor(out.data() + 4 * p + 1, DType::kI64, {3}, Device::kCuda)});
    }
    for (int p = n - 1; p >= 0; --p) {
      recvs.push_back({p, Tensor(in.data() + 4 * p, DType::kI64, {1}, Device::kCuda)});
      recvs.push_back({p, Tensor(in.data() + 4 * p + 1, DType::kI64, {3}, Device::kCuda)});
    }
    comm.SendRecv(sends, recvs);
    const std::vector<int64_t> got = in.Read();
    for (int p = 0; p < n; ++p) {
      for (int k = 0; k < 4; ++k) EXPECT_EQ(got[4 * p + k], ExchangeVal(p, me, k, 7));
    }
  });
}

TEST_P(NcclGroupTest, SendRecvWithIdleRanks) {
  // Only rank 0 sends (to the last rank, possibly itself); the others take part with empty spans.
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    const int last = comm.size() - 1;
    const std::vector<int32_t> values = {11, 22, 33};
    DeviceArray<int32_t> out(values, stream), in(3, stream);
    const PeerOp send{last, out.View({3})};
    const PeerOp recv{0, in.View({3})};
    comm.SendRecv(
        comm.rank() == 0 ? std::span<const PeerOp>(&send, 1) : std::span<const PeerOp>(),
        comm.rank() == last ? std::span<const PeerOp>(&recv, 1) : std::span<const PeerOp>());
    EXPECT_EQ(in.Read(), comm.rank() == last ? values : std::vector<int32_t>(3, -1));
  });
}

TEST_P(NcclGroupTest, BarrierWaitsForEveryRank) {
  std::atomic<int> arrived{0};
  RunRanks(n(), [&arrived](Communicator& comm, cudaStream_t) {
    for (int round = 1; round <= 20; ++round) {
      arrived.fetch_add(1);
      comm.Barrier();
      EXPECT_EQ(arrived.load(), round * comm.size());
      comm.Barrier();
    }
  });
}

TEST_P(NcclGroupTest, DeferredAllGathersCompleteAfterWaitDeferred) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    const int n = comm.size(), me = comm.rank();
    constexpr int kRounds = 3;
    std::vector<std::unique_ptr<DeviceArray<int32_t>>> sends, recvs;
    comm.SetDeferred(true);
    for (int round = 0; round < kRounds; ++round) {
      sends.push_back(
          std::make_unique<DeviceArray<int32_t>>(Values<int32_t>(me, 7, round), stream));
      recvs.push_back(std::make_unique<DeviceArray<int32_t>>(7 * n, stream));
      comm.AllGather(sends.back()->View({7}), recvs.back()->View({n * 7}));
    }
    comm.WaitDeferred();
    comm.SetDeferred(false);
    for (int round = 0; round < kRounds; ++round) {
      const std::vector<int32_t> got = recvs[round]->Read();
      for (int r = 0; r < n; ++r) {
        EXPECT_EQ(Slice(got, r * 7, r * 7 + 7), Values<int32_t>(r, 7, round))
            << "round " << round << " block " << r << " on rank " << me;
      }
    }
    AllReduceRound<int32_t>(comm, stream, 5, 1);  // back to blocking mode
  });
}

// While deferred, a rank's compute stream must not wait for a collective that cannot finish yet:
// ranks 1..n-1 issue a deferred AllGather and drain their compute streams before rank 0 issues
// its part. (A compute stream that waited would stall them until rank 0's timeout below.)
TEST_P(NcclGroupTest, DeferredCollectiveDoesNotBlockTheComputeStream) {
  if (n() < 2) GTEST_SKIP() << "needs a peer to be late";
  std::atomic<int> drained{0};
  RunRanks(n(), [&drained](Communicator& comm, cudaStream_t stream) {
    const int n = comm.size(), me = comm.rank();
    DeviceArray<int32_t> send(Values<int32_t>(me, 3, 9), stream), recv(3 * n, stream);
    // The same AllGather once, blocking, so NCCL has set up its connections before the test.
    comm.AllGather(send.View({3}), recv.View({3 * n}));
    CudaOk(cudaMemsetAsync(recv.data(), 0xFF, 3 * n * sizeof(int32_t), stream), "cudaMemset");
    CudaOk(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    if (me == 0) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (drained.load() < n - 1 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      EXPECT_EQ(drained.load(), n - 1) << "a deferred collective blocked a compute stream";
    }
    comm.SetDeferred(true);
    comm.AllGather(send.View({3}), recv.View({3 * n}));
    if (me != 0) {
      CudaOk(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
      drained.fetch_add(1);
    }
    comm.WaitDeferred();
    comm.SetDeferred(false);
    const std::vector<int32_t> got = recv.Read();
    for (int r = 0; r < n; ++r) EXPECT_EQ(Slice(got, r * 3, r * 3 + 3), Values<int32_t>(r, 3, 9));
  });
}

// ---- Statistics. ----

// Where a stats sequence gets its buffers: host memory for LocalCommunicator, device memory for
// NcclCommunicator. Contents are zero; only sizes matter.
class Arena {
 public:
  virtual ~Arena() = default;
  virtual Tensor Make(DType dtype, std::initializer_list<int64_t> shape) = 0;
};

class HostArena final : public Arena {
 public:
  Tensor Make(DType dtype, std::initializer_list<int64_t> shape) override {
    const Tensor probe(nullptr, dtype, shape);
    blocks_.emplace_back(probe.nbytes() + 1, 0);
    return Tensor(blocks_.back().data(), dtype, shape);
  }

 private:
  std::vector<std::vector<uint8_t>> blocks_;
};

class DeviceArena final : public Arena {
 public:
  explicit DeviceArena(cudaStream_t stream) : stream_(stream) {}
  Tensor Make(DType dtype, std::initializer_list<int64_t> shape) override {
    const Tensor probe(nullptr, dtype, shape);
    blocks_.push_back(
        std::make_unique<DeviceArray<uint8_t>>(static_cast<int64_t>(probe.nbytes()), stream_));
    if (probe.nbytes() > 0) {
      CudaOk(cudaMemsetAsync(blocks_.back()->data(), 0, probe.nbytes(), stream_), "cudaMemset");
    }
    return Tensor(blocks_.back()->data(), dtype, shape, Device::kCuda);
  }

 private:
  cudaStream_t stream_;
  std::vector<std::unique_ptr<DeviceArray<uint8_t>>> blocks_;
};

// The same calls as the stats test of local_communicator_test.cc, plus an uneven AllReduce and a
// SendRecv to self, on buffers from `arena`.
void StatsSequence(Communicator& comm, Arena& arena) {
  const int n = comm.size(), me = comm.rank();
  comm.Broadcast(arena.Make(DType::kI32, {3, 5}), 0);
  comm.AllGather(arena.Make(DType::kI64, {2, 3}), arena.Make(DType::kI64, {2 * n, 3}));
  std::vector<int64_t> gather_rows(static_cast<size_t>(n));
  int64_t total = 0;
  for (int r = 0; r < n; ++r) total += gather_rows[r] = GatherRows(r, 0);
  comm.AllGatherV(arena.Make(DType::kI32, {gather_rows[me], 3}),
                  arena.Make(DType::kI32, {total, 3}), gather_rows);
  comm.ReduceScatter(arena.Make(DType::kI32, {3 * n, 2}), arena.Make(DType::kI32, {3, 2}));
  comm.AllReduce(arena.Make(DType::kI64, {12}));
  comm.AllReduce(arena.Make(DType::kI32, {7}));
  comm.AllToAll(arena.Make(DType::kI32, {2 * n, 3}), arena.Make(DType::kI32, {2 * n, 3}));
  std::vector<int64_t> send_rows(n), recv_rows(n);
  int64_t send_total = 0, recv_total = 0;
  for (int j = 0; j < n; ++j) {
    send_total += send_rows[j] = ExchangeRows(me, j, 0);
    recv_total += recv_rows[j] = ExchangeRows(j, me, 0);
  }
  comm.AllToAllV(arena.Make(DType::kI64, {send_total, 2}), send_rows,
                 arena.Make(DType::kI64, {recv_total, 2}), recv_rows);
  for (int step = 0; step < n; ++step) {
    const PeerOp send{(me + 1) % n, arena.Make(DType::kI32, {2, 3})};
    const PeerOp recv{(me - 1 + n) % n, arena.Make(DType::kI32, {2, 3})};
    comm.SendRecv({&send, 1}, {&recv, 1});
  }
  const PeerOp self_send{me, arena.Make(DType::kI64, {4})};
  const PeerOp self_recv{me, arena.Make(DType::kI64, {4})};
  comm.SendRecv({&self_send, 1}, {&self_recv, 1});
  comm.Barrier();
}

std::vector<CommStats> LocalStats(int n) {
  std::vector<CommStats> stats(static_cast<size_t>(n));
  std::vector<std::unique_ptr<Communicator>> comms = LocalCommunicator::CreateGroup(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&stats, comm = comms[r].get(), r] {
      HostArena arena;
      StatsSequence(*comm, arena);
      stats[r] = comm->stats();
    });
  }
  for (std::thread& t : threads) t.join();
  return stats;
}

TEST_P(NcclGroupTest, StatsBytesAndCallsEqualLocalCommunicators) {
  const std::vector<CommStats> expected = LocalStats(n());
  RunRanks(n(), [&expected](Communicator& comm, cudaStream_t stream) {
    {
      DeviceArena arena(stream);
      StatsSequence(comm, arena);
      CudaOk(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    }
    comm.FlushStats();
    std::unique_ptr<Communicator> self = comm.Split(comm.rank(), 0);
    const CommStats& s = comm.stats();
    const CommStats& want = expected[comm.rank()];
    EXPECT_EQ(s.bytes_sent, want.bytes_sent) << "rank " << comm.rank();
    EXPECT_EQ(s.calls, want.calls) << "rank " << comm.rank();
    for (int k = 0; k < kNumCollectiveKinds; ++k) {
      EXPECT_GE(s.seconds[k], 0.0) << CollectiveKindName(static_cast<CollectiveKind>(k));
    }
    EXPECT_GT(s.seconds[static_cast<int>(CollectiveKind::kAllReduce)], 0.0);
    EXPECT_EQ(self->stats().calls, (std::array<int64_t, kNumCollectiveKinds>{}));
    comm.ResetStats();
    EXPECT_EQ(comm.stats().calls, (std::array<int64_t, kNumCollectiveKinds>{}));
    EXPECT_EQ(comm.stats().bytes_sent, (std::array<int64_t, kNumCollectiveKinds>{}));
    EXPECT_EQ(comm.stats().seconds, (std::array<double, kNumCollectiveKinds>{}));
  });
}

// More collectives than the timing queue holds, with no FlushStats in between: the queue drains
// itself, nothing is lost, and each AllReduce sees the previous one's result (stream order).
TEST_P(NcclGroupTest, ManyCollectivesWithoutFlushKeepOrderAndTimes) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    constexpr int kCalls = static_cast<int>(NcclCommunicator::kMaxPendingTimings) + 100;
    DeviceArray<int32_t> value(std::vector<int32_t>{1, 3}, stream);
    for (int i = 0; i < kCalls; ++i) comm.AllReduce(value.View({2}));
    uint32_t a = 1, b = 3;
    for (int i = 0; i < kCalls; ++i) {
      a *= static_cast<uint32_t>(comm.size());
      b *= static_cast<uint32_t>(comm.size());
    }
    EXPECT_EQ(value.Read(),
              (std::vector<int32_t>{static_cast<int32_t>(a), static_cast<int32_t>(b)}));
    comm.FlushStats();
    EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "a polled event left an error behind";
    EXPECT_EQ(comm.stats().count(CollectiveKind::kAllReduce), kCalls);
    EXPECT_GT(comm.stats().seconds[static_cast<int>(CollectiveKind::kAllReduce)], 0.0);
  });
}

// ---- Split. ----

TEST_P(NcclGroupTest, SplitOrdersByKeyThenRankAndSkipsNegativeColor) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    const int n = comm.size(), me = comm.rank();
    // With 3+ ranks rank 1 opts out; the rest form one group ordered by key -rank (descending).
    const bool out = n >= 3 && me == 1;
    std::unique_ptr<Communicator> sub = comm.Split(out ? -1 : 0, -me);
    if (out) {
      EXPECT_EQ(sub, nullptr);
    } else {
      CHECK(sub != nullptr) << "rank " << me << " got no subgroup";
      const int members = n >= 3 ? n - 1 : n;
      int expected_rank = 0;
      for (int r = me + 1; r < n; ++r) expected_rank += (n >= 3 && r == 1) ? 0 : 1;
      EXPECT_EQ(sub->size(), members);
      EXPECT_EQ(sub->rank(), expected_rank);
      DeviceArray<int32_t> buffer(std::vector<int32_t>{me}, stream);
      sub->Broadcast(buffer.View({1}), 0);
      EXPECT_EQ(buffer.Read(), std::vector<int32_t>{n - 1});
      // Equal keys keep the parent's order; a split of a split works too.
      std::unique_ptr<Communicator> again = sub->Split(0, 0);
      CHECK(again != nullptr) << "rank " << me << " got no subgroup of its subgroup";
      EXPECT_EQ(again->rank(), sub->rank());
      AllReduceRound<int64_t>(*again, stream, 3, 2);
    }
    AllReduceRound<int32_t>(comm, stream, 5, 1);  // the parent group still works
  });
}

// Parent and child share one comm stream: their collectives, deferred or not, interleave on it in
// issue order, and each handle's WaitDeferred covers its own.
TEST_P(NcclGroupTest, ParentAndChildInterleaveOnTheSharedStream) {
  RunRanks(n(), [](Communicator& comm, cudaStream_t stream) {
    const int n = comm.size(), me = comm.rank();
    std::unique_ptr<Communicator> all = comm.Split(0, 0);
    CHECK(all != nullptr);
    for (int round = 0; round < 10; ++round) {
      comm.SetDeferred(round % 2 == 1);
      all->SetDeferred(round % 3 == 1);
      DeviceArray<int32_t> send(Values<int32_t>(me, 5, round), stream), recv(5 * n, stream);
      DeviceArray<int64_t> sum(Values<int64_t>(me, 3, round), stream);
      comm.AllGather(send.View({5}), recv.View({5 * n}));
      all->AllReduce(sum.View({3}));
      comm.WaitDeferred();
      all->WaitDeferred();
      const std::vector<int32_t> got = recv.Read();
      for (int r = 0; r < n; ++r) {
        EXPECT_EQ(Slice(got, r * 5, r * 5 + 5), Values<int32_t>(r, 5, round)) << "round " << round;
      }
      EXPECT_EQ(sum.Read(), SumOverRanks<int64_t>(n, 3, round)) << "round " << round;
    }
    comm.SetDeferred(false);
    all->SetDeferred(false);
    AllReduceRound<int32_t>(*all, stream, 9, 4);
    AllGatherVRound(comm, stream, 2);
  });
}

TEST(NcclCommunicatorTest, SplitIntoTwoByTwoMesh) {
  if (MaxRanks() < 4) GTEST_SKIP() << "needs 4 CUDA devices";
  RunRanks(4, [](Communicator& comm, cudaStream_t stream) {
    const int me = comm.rank();
    // Rows {0, 1} and {2, 3}; columns {0, 2} and {1, 3}.
    std::unique_ptr<Communicator> row = comm.Split(me / 2, me % 2);
    std::unique_ptr<Communicator> col = comm.Split(me % 2, me / 2);
    EXPECT_EQ(row->size(), 2);
    EXPECT_EQ(row->rank(), me % 2);
    EXPECT_EQ(col->size(), 2);
    EXPECT_EQ(col->rank(), me / 2);
    for (int round = 0; round < 10; ++round) {
      DeviceArray<int64_t> value(std::vector<int64_t>{me + 10 * round}, stream);
      row->AllReduce(value.View({1}));
      EXPECT_EQ(value.Read(), std::vector<int64_t>{(me / 2) * 4 + 1 + 20 * round});
      DeviceArray<int64_t> mine(std::vector<int64_t>{me}, stream), gathered(2, stream);
      col->AllGather(mine.View({1}), gathered.View({2}));
      EXPECT_EQ(gathered.Read(), (std::vector<int64_t>{me % 2, me % 2 + 2}));
      AllToAllVRound(*row, stream, round);
      AllGatherVRound(*col, stream, round);
    }
    AllReduceRound<int32_t>(comm, stream, 5, 1);
  });
}

TEST(NcclCommunicatorTest, SubgroupOutlivesParent) {
  const int n = std::min(MaxRanks(), 2);
  if (n < 1) GTEST_SKIP() << "needs a CUDA device";
  ComputeStreams streams(n);
  std::vector<std::unique_ptr<Communicator>> subs(static_cast<size_t>(n));
  {
    std::vector<std::unique_ptr<Communicator>> comms = MakeGroup(streams);
    std::vector<std::thread> threads;
    for (int r = 0; r < n; ++r) {
      threads.emplace_back([&, r] {
        CudaOk(cudaSetDevice(DeviceOf(r)), "cudaSetDevice");
        subs[r] = comms[r]->Split(0, 0);
      });
    }
    for (std::thread& t : threads) t.join();
  }
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      CudaOk(cudaSetDevice(DeviceOf(r)), "cudaSetDevice");
      AllReduceRound<int32_t>(*subs[r], streams.get(r), 4, 0);
      subs[r].reset();
    });
  }
  for (std::thread& t : threads) t.join();
}

// Back-to-back rounds of every collective, reusing nothing between rounds.
TEST(NcclCommunicatorStressTest, FiftyRoundsOfEveryCollective) {
  const int n = std::min(MaxRanks(), 4);
  if (n < 2) GTEST_SKIP() << "needs 2 CUDA devices";
  RunRanks(n, [](Communicator& comm, cudaStream_t stream) {
    for (int64_t round = 0; round < 50; ++round) {
      BroadcastRound(comm, stream, static_cast<int>(round % comm.size()), round);
      AllGatherRound(comm, stream, 1 + round % 2, round);
      AllGatherVRound(comm, stream, round);
      ReduceScatterRound(comm, stream, round);
      AllReduceRound<int32_t>(comm, stream, 5 + round % 7, round);
      AllToAllRound(comm, stream, round);
      AllToAllVRound(comm, stream, round);
      RingShardRound(comm, stream, round);
    }
  });
}

// ---- Creation errors and contract violations. ----

TEST(NcclCommunicatorTest, CreateGroupRejectsBadArguments) {
  void* const streams[2] = {nullptr, nullptr};
  const int one[] = {0};
  EXPECT_EQ(NcclCommunicator::CreateGroup({}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NcclCommunicator::CreateGroup(one, streams).status().code(),
            absl::StatusCode::kInvalidArgument);
  const int negative[] = {-1};
  EXPECT_FALSE(NcclCommunicator::CreateGroup(negative, std::span<void* const>(streams, 1)).ok());
  if (DeviceCount() < 1) return;
  if (!AllRanksOnOneGpu()) {
    const int twice[] = {0, 0};
    EXPECT_EQ(NcclCommunicator::CreateGroup(twice, streams).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  const int beyond[] = {DeviceCount()};
  EXPECT_EQ(
      NcclCommunicator::CreateGroup(beyond, std::span<void* const>(streams, 1)).status().code(),
      absl::StatusCode::kInvalidArgument);
}

class NcclCommunicatorDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (DeviceCount() < 1) GTEST_SKIP() << "needs a CUDA device";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

TEST_F(NcclCommunicatorDeathTest, BadLocalArgumentsFailLoudly) {
  CudaOk(cudaSetDevice(0), "cudaSetDevice");
  ComputeStreams streams(1);
  std::vector<std::unique_ptr<Communicator>> comms = MakeGroup(streams);
  DeviceArray<int32_t> a(4, streams.get(0)), b(3, streams.get(0));
  std::vector<int32_t> host(4);
  EXPECT_DEATH(comms[0]->AllReduce(Tensor(host.data(), DType::kI32, {4})),
               "AllReduce: buffer is not device memory");
  EXPECT_DEATH(comms[0]->AllReduce(Tensor(host.data(), DType::kI32, {4}, Device::kCuda)),
               "AllReduce: buffer is not memory of device 0");
  EXPECT_DEATH(comms[0]->AllGather(a.View({4}), b.View({3})), "AllGather: recv \\[3\\] must hold");
  EXPECT_DEATH(comms[0]->Broadcast(a.View({4}), 1), "Broadcast: root 1 of 1 ranks");
  EXPECT_DEATH(comms[0]->AllReduce(a.View({2, 2}).Columns(0, 1)), "is not contiguous");
  EXPECT_DEATH(comms[0]->AllReduce(a.ViewAs(DType::kU8, {16})), "cannot sum U8");
  const int64_t rows[] = {2};
  EXPECT_DEATH(comms[0]->AllGatherV(a.View({4}), a.View({4}), rows), "send rows of rank 0");
  const int64_t kept[] = {1}, expected[] = {2};
  EXPECT_DEATH(
      comms[0]->AllToAllV(a.View({4}).Slice(0, 1), kept, b.View({3}).Slice(0, 2), expected),
      "AllToAllV: rank 0 keeps 1 rows but expects 2");
}

}  // namespace
}  // namespace tspserve
