#include "engine/comm/local_communicator.h"

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace tspserve {
namespace {

using PeerOp = Communicator::PeerOp;

// Runs body(comm) on one thread per rank of a fresh group of `size` and joins them. GoogleTest
// records EXPECT failures from any thread against the running test. Bodies use EXPECT, not
// ASSERT: a rank that returned early would leave its peers waiting in the next collective.
void RunRanks(int size, const std::function<void(Communicator&)>& body) {
  std::vector<std::unique_ptr<Communicator>> comms = LocalCommunicator::CreateGroup(size);
  std::vector<std::thread> threads;
  for (auto& comm : comms) threads.emplace_back([&body, c = comm.get()] { body(*c); });
  for (std::thread& t : threads) t.join();
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

template <typename T>
Tensor View(std::vector<T>& v, std::initializer_list<int64_t> shape) {
  return Tensor(v.data(), DTypeOf<T>(), shape);
}

// A distinct value for element i of rank r's data in round `salt` (fits I32 even summed 4 times).
int64_t Val(int rank, int64_t i, int64_t salt) { return salt * 100003 + rank * 10007 + i * 3 + 1; }

template <typename T>
std::vector<T> Values(int rank, int64_t count, int64_t salt) {
  std::vector<T> v(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) v[i] = static_cast<T>(Val(rank, i, salt));
  return v;
}

// Element i summed over n ranks.
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

// The per-collective rounds below fill this rank's inputs for round `salt`, run one collective and
// EXPECT the exact result. The parameterized tests and the stress test share them.

void BroadcastRound(Communicator& comm, int root, int64_t salt) {
  std::vector<int32_t> buffer = Values<int32_t>(comm.rank(), 15, salt);
  comm.Broadcast(View(buffer, {3, 5}), root);
  EXPECT_EQ(buffer, Values<int32_t>(root, 15, salt)) << "root " << root << " rank " << comm.rank();
}

void AllGatherRound(Communicator& comm, int64_t rows, int64_t salt) {
  const int n = comm.size();
  std::vector<int64_t> send = Values<int64_t>(comm.rank(), rows * 3, salt);
  std::vector<int64_t> recv(static_cast<size_t>(n * rows * 3), -1);
  comm.AllGather(View(send, {rows, 3}), View(recv, {n * rows, 3}));
  for (int r = 0; r < n; ++r) {
    std::vector<int64_t> block(recv.begin() + r * rows * 3, recv.begin() + (r + 1) * rows * 3);
    EXPECT_EQ(block, Values<int64_t>(r, rows * 3, salt)) << "block " << r << " on " << comm.rank();
  }
}

void AllGatherVRound(Communicator& comm, int64_t salt) {
  std::vector<int64_t> rows(static_cast<size_t>(comm.size()));
  int64_t total = 0;
  for (int r = 0; r < comm.size(); ++r) total += rows[r] = GatherRows(r, salt);
  std::vector<int32_t> send = Values<int32_t>(comm.rank(), rows[comm.rank()] * 3, salt);
  std::vector<int32_t> recv(static_cast<size_t>(total * 3), -1);
  comm.AllGatherV(View(send, {rows[comm.rank()], 3}), View(recv, {total, 3}), rows);
  std::vector<int32_t> expected;
  for (int r = 0; r < comm.size(); ++r) {
    std::vector<int32_t> part = Values<int32_t>(r, rows[r] * 3, salt);
    expected.insert(expected.end(), part.begin(), part.end());
  }
  EXPECT_EQ(recv, expected) << "rank " << comm.rank() << " salt " << salt;
}

void ReduceScatterRound(Communicator& comm, int64_t salt) {
  const int n = comm.size();
  constexpr int64_t kBlock = 3 * 2;  // recv [3, 2]
  std::vector<int32_t> send = Values<int32_t>(comm.rank(), n * kBlock, salt);
  std::vector<int32_t> recv(kBlock, -1);
  comm.ReduceScatter(View(send, {n * 3, 2}), View(recv, {3, 2}));
  EXPECT_EQ(recv, SumOverRanks<int32_t>(n, kBlock, salt, comm.rank() * kBlock));
}

template <typename T>
void AllReduceRound(Communicator& comm, int64_t count, int64_t salt) {
  std::vector<T> buffer = Values<T>(comm.rank(), count, salt);
  comm.AllReduce(View(buffer, {count}));
  EXPECT_EQ(buffer, SumOverRanks<T>(comm.size(), count, salt)) << count << " elements";
}

// Element k of the block that rank `from` sends to rank `to`.
int64_t ExchangeVal(int from, int to, int64_t k, int64_t salt) {
  return salt * 100003 + from * 1009 + to * 101 + k;
}

void AllToAllRound(Communicator& comm, int64_t salt) {
  const int n = comm.size();
  constexpr int64_t kBlock = 2 * 3;  // [2, 3] rows per peer
  std::vector<int32_t> send(static_cast<size_t>(n * kBlock));
  std::vector<int32_t> recv(send.size(), -1), expected(send.size());
  for (int j = 0; j < n; ++j) {
    for (int64_t k = 0; k < kBlock; ++k) {
      send[j * kBlock + k] = static_cast<int32_t>(ExchangeVal(comm.rank(), j, k, salt));
      expected[j * kBlock + k] = static_cast<int32_t>(ExchangeVal(j, comm.rank(), k, salt));
    }
  }
  comm.AllToAll(View(send, {n * 2, 3}), View(recv, {n * 2, 3}));
  EXPECT_EQ(recv, expected) << "rank " << comm.rank();
}

void AllToAllVRound(Communicator& comm, int64_t salt) {
  const int n = comm.size(), me = comm.rank();
  constexpr int64_t kWidth = 2;
  std::vector<int64_t> send_rows(n), recv_rows(n), send, expected;
  for (int j = 0; j < n; ++j) {
    send_rows[j] = ExchangeRows(me, j, salt);
    recv_rows[j] = ExchangeRows(j, me, salt);
    for (int64_t k = 0; k < send_rows[j] * kWidth; ++k) send.push_back(ExchangeVal(me, j, k, salt));
    for (int64_t k = 0; k < recv_rows[j] * kWidth; ++k) {
      expected.push_back(ExchangeVal(j, me, k, salt));
    }
  }
  std::vector<int64_t> recv(expected.size(), -1);
  const int64_t send_total = static_cast<int64_t>(send.size()) / kWidth;
  const int64_t recv_total = static_cast<int64_t>(recv.size()) / kWidth;
  comm.AllToAllV(View(send, {send_total, kWidth}), send_rows, View(recv, {recv_total, kWidth}),
                 recv_rows);
  EXPECT_EQ(recv, expected) << "rank " << me << " salt " << salt;
}

// The MLP schedule: each rank's shard travels the ring (send to p+1, receive from p-1) for n steps,
// so every rank meets every shard once and ends holding its own again.
void RingShardRound(Communicator& comm, int64_t salt) {
  const int n = comm.size(), me = comm.rank();
  std::vector<int32_t> current = Values<int32_t>(me, 6, salt), next(6, -1);
  for (int step = 0; step < n; ++step) {
    EXPECT_EQ(current, Values<int32_t>((me - step + n) % n, 6, salt)) << "step " << step;
    const PeerOp send{(me + 1) % n, View(current, {2, 3})};
    const PeerOp recv{(me - 1 + n) % n, View(next, {2, 3})};
    comm.SendRecv({&send, 1}, {&recv, 1});
    std::swap(current, next);
  }
  EXPECT_EQ(current, Values<int32_t>(me, 6, salt)) << "rank " << me << " after the full ring";
}

class GroupTest : public ::testing::TestWithParam<int> {};

INSTANTIATE_TEST_SUITE_P(Sizes, GroupTest, ::testing::Values(1, 2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                           return "N" + std::to_string(param_info.param);
                         });

TEST_P(GroupTest, CreateGroupNumbersRanks) {
  std::vector<std::unique_ptr<Communicator>> comms = LocalCommunicator::CreateGroup(GetParam());
  ASSERT_EQ(comms.size(), static_cast<size_t>(GetParam()));
  for (int r = 0; r < GetParam(); ++r) {
    EXPECT_EQ(comms[r]->rank(), r);
    EXPECT_EQ(comms[r]->size(), GetParam());
  }
}

TEST_P(GroupTest, BroadcastFromEveryRootInPlace) {
  RunRanks(GetParam(), [](Communicator& comm) {
    for (int root = 0; root < comm.size(); ++root) BroadcastRound(comm, root, root);
    std::vector<int64_t> empty;
    comm.Broadcast(View(empty, {0, 4}), comm.size() - 1);
  });
}

TEST_P(GroupTest, AllGatherConcatenatesInRankOrder) {
  RunRanks(GetParam(), [](Communicator& comm) {
    AllGatherRound(comm, 2, 0);
    AllGatherRound(comm, 1, 1);
    AllGatherRound(comm, 0, 2);
  });
}

TEST_P(GroupTest, AllGatherInPlace) {
  RunRanks(GetParam(), [](Communicator& comm) {
    const int n = comm.size(), me = comm.rank();
    std::vector<int32_t> recv(static_cast<size_t>(n * 4), -1);
    std::vector<int32_t> mine = Values<int32_t>(me, 4, 5);
    std::copy(mine.begin(), mine.end(), recv.begin() + me * 4);
    const Tensor all = View(recv, {n * 2, 2});
    comm.AllGather(all.Slice(me * 2, me * 2 + 2), all);
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(std::vector<int32_t>(recv.begin() + r * 4, recv.begin() + r * 4 + 4),
                Values<int32_t>(r, 4, 5));
    }
  });
}

TEST_P(GroupTest, AllGatherVWithUnequalAndZeroRows) {
  RunRanks(GetParam(), [](Communicator& comm) {
    for (int64_t salt = 0; salt < 4; ++salt) AllGatherVRound(comm, salt);
  });
}

TEST_P(GroupTest, AllGatherVWhenNoRankHasRows) {
  RunRanks(GetParam(), [](Communicator& comm) {
    std::vector<int64_t> rows(static_cast<size_t>(comm.size()), 0);
    std::vector<int32_t> send, recv;
    comm.AllGatherV(View(send, {0, 7}), View(recv, {0, 7}), rows);
  });
}

TEST_P(GroupTest, ReduceScatterSumsBlocks) {
  RunRanks(GetParam(), [](Communicator& comm) {
    ReduceScatterRound(comm, 0);
    ReduceScatterRound(comm, 1);
  });
}

TEST_P(GroupTest, ReduceScatterInPlace) {
  RunRanks(GetParam(), [](Communicator& comm) {
    const int n = comm.size(), me = comm.rank();
    std::vector<int64_t> buffer = Values<int64_t>(me, n * 5, 3);
    const Tensor send = View(buffer, {n * 5});
    comm.ReduceScatter(send, send.Slice(me * 5, me * 5 + 5));
    EXPECT_EQ(std::vector<int64_t>(buffer.begin() + me * 5, buffer.begin() + me * 5 + 5),
              SumOverRanks<int64_t>(n, 5, 3, me * 5));
  });
}

TEST_P(GroupTest, AllReduceIntegersOfAwkwardSizes) {
  RunRanks(GetParam(), [](Communicator& comm) {
    // 7 and 1031 do not divide by 2, 3 or 4; 1 and 2 leave some ranks an empty block; 0 is empty.
    for (int64_t count : {7, 1031, 1, 2, 0}) {
      AllReduceRound<int32_t>(comm, count, count);
      AllReduceRound<int64_t>(comm, count, count + 1);
    }
  });
}

TEST_P(GroupTest, AllReduceF32IsExactOnRepresentableValues) {
  RunRanks(GetParam(), [](Communicator& comm) {
    std::vector<float> buffer(9);
    for (int i = 0; i < 9; ++i) buffer[i] = 0.25f * static_cast<float>(comm.rank() + 1) - i;
    comm.AllReduce(View(buffer, {3, 3}));
    const int n = comm.size();
    for (int i = 0; i < 9; ++i) {
      EXPECT_EQ(buffer[i], 0.25f * static_cast<float>(n * (n + 1) / 2) - static_cast<float>(n * i));
    }
  });
}

TEST_P(GroupTest, AllReduceBf16AccumulatesInFloat) {
  // Rank 0 holds 256, the others 1: bf16 spacing at 256 is 2, so adding in bf16 one rank at a time
  // would stay at 256; the float sum 256 + (n-1) is rounded once.
  RunRanks(GetParam(), [](Communicator& comm) {
    std::vector<uint16_t> buffer(5, FloatToBf16(comm.rank() == 0 ? 256.0f : 1.0f));
    buffer[4] = FloatToBf16(-0.5f * static_cast<float>(comm.rank()));
    comm.AllReduce(Tensor(buffer.data(), DType::kBF16, {5}));
    const int n = comm.size();
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(buffer[i], FloatToBf16(256.0f + static_cast<float>(n - 1)));
    }
    EXPECT_EQ(Bf16ToFloat(buffer[4]), -0.25f * static_cast<float>(n * (n - 1)));
    if (n == 3) {
      EXPECT_EQ(Bf16ToFloat(buffer[0]), 258.0f);
    }
  });
}

TEST_P(GroupTest, ReduceScatterBf16) {
  RunRanks(GetParam(), [](Communicator& comm) {
    const int n = comm.size();
    std::vector<uint16_t> send(static_cast<size_t>(2 * n));
    for (int j = 0; j < 2 * n; ++j) send[j] = FloatToBf16(static_cast<float>(comm.rank() + j));
    std::vector<uint16_t> recv(2);
    comm.ReduceScatter(Tensor(send.data(), DType::kBF16, {2 * n}),
                       Tensor(recv.data(), DType::kBF16, {2}));
    for (int k = 0; k < 2; ++k) {
      const int j = 2 * comm.rank() + k;
      EXPECT_EQ(Bf16ToFloat(recv[k]), static_cast<float>(n * (n - 1) / 2 + n * j));
    }
  });
}

TEST_P(GroupTest, AllToAllExchangesBlocks) {
  RunRanks(GetParam(), [](Communicator& comm) {
    AllToAllRound(comm, 0);
    AllToAllRound(comm, 1);
  });
}

TEST_P(GroupTest, AllToAllVWithZeroBlocks) {
  RunRanks(GetParam(), [](Communicator& comm) {
    for (int64_t salt = 0; salt < 3; ++salt) AllToAllVRound(comm, salt);
  });
}

TEST_P(GroupTest, RingSendRecvCirculatesShardsForNSteps) {
  RunRanks(GetParam(), [](Communicator& comm) { RingShardRound(comm, 0); });
}

TEST_P(GroupTest, RingSendRecvLeavesEveryRankWithEveryBlock) {
  RunRanks(GetParam(), [](Communicator& comm) {
    const int n = comm.size(), me = comm.rank();
    constexpr int64_t kWidth = 5;
    std::vector<int32_t> blocks(static_cast<size_t>(n * kWidth), -1);
    std::vector<int32_t> mine = Values<int32_t>(me, kWidth, 0);
    std::copy(mine.begin(), mine.end(), blocks.begin() + me * kWidth);
    const Tensor all = View(blocks, {n, kWidth});
    for (int step = 0; step + 1 < n; ++step) {
      const int outgoing = (me - step + n) % n, incoming = (me - step - 1 + 2 * n) % n;
      const PeerOp send{(me + 1) % n, all.Slice(outgoing, outgoing + 1)};
      const PeerOp recv{(me - 1 + n) % n, all.Slice(incoming, incoming + 1)};
      comm.SendRecv({&send, 1}, {&recv, 1});
    }
    for (int b = 0; b < n; ++b) {
      EXPECT_EQ(
          std::vector<int32_t>(blocks.begin() + b * kWidth, blocks.begin() + (b + 1) * kWidth),
          Values<int32_t>(b, kWidth, 0))
          << "block " << b << " on rank " << me;
    }
  });
}

TEST_P(GroupTest, SendRecvPairsOpsInOrderPerPeerIncludingSelf) {
  // Every rank sends two buffers ([1] then [3]) to every rank, itself included, listing sends by
  // ascending peer and receives by descending peer: pairing must go by peer and order, not
  // position.
  RunRanks(GetParam(), [](Communicator& comm) {
    const int n = comm.size(), me = comm.rank();
    std::vector<int64_t> out(static_cast<size_t>(4 * n)), in(static_cast<size_t>(4 * n), -1);
    std::vector<PeerOp> sends, recvs;
    for (int p = 0; p < n; ++p) {
      for (int k = 0; k < 4; ++k) out[4 * p + k] = ExchangeVal(me, p, k, 7);
      sends.push_back({p, Tensor(&out[4 * p], DType::kI64, {1})});
      sends.push_back({p, Tensor(&out[4 * p + 1], DType::kI64, {3})});
    }
    for (int p = n - 1; p >= 0; --p) {
      recvs.push_back({p, Tensor(&in[4 * p], DType::kI64, {1})});
      recvs.push_back({p, Tensor(&in[4 * p + 1], DType::kI64, {3})});
    }
    comm.SendRecv(sends, recvs);
    for (int p = 0; p < n; ++p) {
      for (int k = 0; k < 4; ++k) EXPECT_EQ(in[4 * p + k], ExchangeVal(p, me, k, 7));
    }
  });
}

TEST_P(GroupTest, SendRecvWithIdleRanks) {
  // Only rank 0 sends (to the last rank); the others take part with empty spans.
  RunRanks(GetParam(), [](Communicator& comm) {
    const int last = comm.size() - 1;
    std::vector<int32_t> out = {11, 22, 33}, in(3, -1);
    const PeerOp send{last, View(out, {3})};
    const PeerOp recv{0, View(in, {3})};
    comm.SendRecv(
        comm.rank() == 0 ? std::span<const PeerOp>(&send, 1) : std::span<const PeerOp>(),
        comm.rank() == last ? std::span<const PeerOp>(&recv, 1) : std::span<const PeerOp>());
    EXPECT_EQ(in, comm.rank() == last ? out : std::vector<int32_t>(3, -1));
  });
}

TEST_P(GroupTest, BarrierWaitsForEveryRank) {
  std::atomic<int> arrived{0};
  RunRanks(GetParam(), [&arrived](Communicator& comm) {
    for (int round = 1; round <= 20; ++round) {
      arrived.fetch_add(1);
      comm.Barrier();
      EXPECT_EQ(arrived.load(), round * comm.size());
      comm.Barrier();
    }
  });
}

TEST_P(GroupTest, StatsCountCallsAndBytesPerKind) {
  RunRanks(GetParam(), [](Communicator& comm) {
    const int64_t n = comm.size(), me = comm.rank();
    BroadcastRound(comm, 0, 0);            // 15 x I32
    AllGatherRound(comm, 2, 0);            // send [2, 3] I64
    AllGatherVRound(comm, 0);              // GatherRows(me, 0) rows of 3 x I32
    ReduceScatterRound(comm, 0);           // recv [3, 2] I32
    AllReduceRound<int64_t>(comm, 12, 0);  // 12 x I64, divisible by every n here
    AllToAllRound(comm, 0);                // send [2n, 3] I32
    AllToAllVRound(comm, 0);               // rows of 2 x I64
    RingShardRound(comm, 0);               // n steps of [2, 3] I32 to rank me+1
    comm.Barrier();
    std::unique_ptr<Communicator> self = comm.Split(static_cast<int>(me), 0);
    int64_t exchanged = 0;
    for (int j = 0; j < n; ++j) {
      if (j != me) exchanged += ExchangeRows(static_cast<int>(me), j, 0) * 2 * 8;
    }
    const CommStats& s = comm.stats();
    EXPECT_EQ(s.count(CollectiveKind::kBroadcast), 1);
    EXPECT_EQ(s.bytes(CollectiveKind::kBroadcast), me == 0 ? (n - 1) * 60 : 0);
    EXPECT_EQ(s.count(CollectiveKind::kAllGather), 2);
    EXPECT_EQ(s.bytes(CollectiveKind::kAllGather), (n - 1) * (48 + GatherRows(me, 0) * 12));
    EXPECT_EQ(s.count(CollectiveKind::kReduceScatter), 1);
    EXPECT_EQ(s.bytes(CollectiveKind::kReduceScatter), (n - 1) * 24);
    EXPECT_EQ(s.count(CollectiveKind::kAllReduce), 1);
    EXPECT_EQ(s.bytes(CollectiveKind::kAllReduce), 2 * (n - 1) * 96 / n);
    EXPECT_EQ(s.count(CollectiveKind::kAllToAll), 2);
    EXPECT_EQ(s.bytes(CollectiveKind::kAllToAll), (n - 1) * 24 + exchanged);
    EXPECT_EQ(s.count(CollectiveKind::kSendRecv), n);
    EXPECT_EQ(s.bytes(CollectiveKind::kSendRecv), n > 1 ? n * 24 : 0);
    for (int k = 0; k < kNumCollectiveKinds; ++k) EXPECT_GE(s.seconds[k], 0.0);
    EXPECT_EQ(self->stats().calls, (std::array<int64_t, kNumCollectiveKinds>{}));
    comm.ResetStats();
    EXPECT_EQ(comm.stats().calls, (std::array<int64_t, kNumCollectiveKinds>{}));
    EXPECT_EQ(comm.stats().bytes_sent, (std::array<int64_t, kNumCollectiveKinds>{}));
    EXPECT_EQ(comm.stats().seconds, (std::array<double, kNumCollectiveKinds>{}));
  });
}

TEST(LocalCommunicatorTest, AllReduceBytesOfUnevenBlocks) {
  // 7 I32 over 4 ranks: blocks of 2, 2, 2, 1 elements. Rank r sends the 7 - e_r elements it does
  // not reduce, then its reduced e_r elements to 3 peers.
  const std::array<int64_t, 4> expected = {(5 + 6) * 4, (5 + 6) * 4, (5 + 6) * 4, (6 + 3) * 4};
  RunRanks(4, [&expected](Communicator& comm) {
    AllReduceRound<int32_t>(comm, 7, 0);
    EXPECT_EQ(comm.stats().bytes(CollectiveKind::kAllReduce), expected[comm.rank()]);
  });
}

TEST(LocalCommunicatorTest, CollectiveKindNames) {
  EXPECT_EQ(CollectiveKindName(CollectiveKind::kBroadcast), "Broadcast");
  EXPECT_EQ(CollectiveKindName(CollectiveKind::kAllGather), "AllGather");
  EXPECT_EQ(CollectiveKindName(CollectiveKind::kReduceScatter), "ReduceScatter");
  EXPECT_EQ(CollectiveKindName(CollectiveKind::kAllReduce), "AllReduce");
  EXPECT_EQ(CollectiveKindName(CollectiveKind::kAllToAll), "AllToAll");
  EXPECT_EQ(CollectiveKindName(CollectiveKind::kSendRecv), "SendRecv");
}

TEST(LocalCommunicatorTest, SplitIntoTwoByTwoMesh) {
  RunRanks(4, [](Communicator& comm) {
    const int me = comm.rank();
    // Rows {0, 1} and {2, 3}; columns {0, 2} and {1, 3}.
    std::unique_ptr<Communicator> row = comm.Split(me / 2, me % 2);
    std::unique_ptr<Communicator> col = comm.Split(me % 2, me / 2);
    EXPECT_EQ(row->size(), 2);
    EXPECT_EQ(row->rank(), me % 2);
    EXPECT_EQ(col->size(), 2);
    EXPECT_EQ(col->rank(), me / 2);
    for (int round = 0; round < 10; ++round) {
      std::vector<int64_t> value = {me + 10 * round};
      row->AllReduce(View(value, {1}));
      EXPECT_EQ(value[0], (me / 2) * 4 + 1 + 20 * round);  // (2m) + (2m + 1)
      std::vector<int64_t> gathered(2);
      std::vector<int64_t> mine = {me};
      col->AllGather(View(mine, {1}), View(gathered, {2}));
      EXPECT_EQ(gathered, (std::vector<int64_t>{me % 2, me % 2 + 2}));
      AllToAllVRound(*row, round);
      AllGatherVRound(*col, round);
    }
    AllReduceRound<int32_t>(comm, 5, 1);  // the parent group still works
  });
}

TEST(LocalCommunicatorTest, SplitOrdersByKeyThenRankAndSkipsNegativeColor) {
  RunRanks(5, [](Communicator& comm) {
    const int me = comm.rank();
    // Color 0: ranks 0, 2, 4 with keys 0, -2, -4 -> new order 4, 2, 0. Rank 1 opts out. Rank 3 is
    // alone in color 7.
    const int color = me == 1 ? -1 : (me == 3 ? 7 : 0);
    std::unique_ptr<Communicator> sub = comm.Split(color, -me);
    if (me == 1) {
      EXPECT_EQ(sub, nullptr);
      return;
    }
    ASSERT_NE(sub, nullptr);
    if (me == 3) {
      EXPECT_EQ(sub->size(), 1);
      BroadcastRound(*sub, 0, 0);
      return;
    }
    EXPECT_EQ(sub->size(), 3);
    EXPECT_EQ(sub->rank(), (4 - me) / 2);
    std::vector<int32_t> buffer = {me};
    sub->Broadcast(View(buffer, {1}), 0);
    EXPECT_EQ(buffer[0], 4);
    // Equal keys keep the parent's order; a split of a split works too.
    std::unique_ptr<Communicator> again = sub->Split(0, 0);
    EXPECT_EQ(again->rank(), sub->rank());
    AllReduceRound<int64_t>(*again, 3, 2);
  });
}

TEST(LocalCommunicatorTest, SubgroupOutlivesParent) {
  std::vector<std::unique_ptr<Communicator>> subs(2);
  {
    std::vector<std::unique_ptr<Communicator>> comms = LocalCommunicator::CreateGroup(2);
    std::thread t0([&] { subs[0] = comms[0]->Split(0, 0); });
    std::thread t1([&] { subs[1] = comms[1]->Split(0, 0); });
    t0.join();
    t1.join();
  }
  std::thread t0([&] { AllReduceRound<int32_t>(*subs[0], 4, 0); });
  std::thread t1([&] { AllReduceRound<int32_t>(*subs[1], 4, 0); });
  t0.join();
  t1.join();
}

// Back-to-back rounds of every collective, reusing buffers at once: races between a rank's next
// call and a peer still reading its previous buffers would show up as wrong values.
TEST(LocalCommunicatorStressTest, TwoHundredRoundsOfEveryCollective) {
  for (int n : {3, 4}) {
    RunRanks(n, [](Communicator& comm) {
      for (int64_t round = 0; round < 200; ++round) {
        BroadcastRound(comm, static_cast<int>(round % comm.size()), round);
        AllGatherRound(comm, 1 + round % 2, round);
        AllGatherVRound(comm, round);
        ReduceScatterRound(comm, round);
        AllReduceRound<int32_t>(comm, 5 + round % 7, round);
        AllToAllRound(comm, round);
        AllToAllVRound(comm, round);
        RingShardRound(comm, round);
      }
    });
  }
}

TEST(LocalCommunicatorHarnessTest, FailureInsideARankThreadFailsTheTest) {
  EXPECT_NONFATAL_FAILURE_ON_ALL_THREADS(
      RunRanks(2, [](Communicator& comm) { EXPECT_EQ(comm.rank(), 0) << "deliberate"; }),
      "deliberate");
}

class LocalCommunicatorDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(LocalCommunicatorDeathTest, DifferentCollectivesFailLoudly) {
  EXPECT_DEATH(RunRanks(2,
                        [](Communicator& comm) {
                          std::vector<int32_t> v(4);
                          if (comm.rank() == 0) comm.AllReduce(View(v, {4}));
                          if (comm.rank() == 1) comm.Broadcast(View(v, {4}), 0);
                        }),
               "rank [01] called (AllReduce|Broadcast) while rank [01] called "
               "(AllReduce|Broadcast)");
}

TEST_F(LocalCommunicatorDeathTest, MismatchedSizesFailLoudly) {
  EXPECT_DEATH(
      RunRanks(3,
               [](Communicator& comm) {
                 std::vector<int32_t> v(static_cast<size_t>(4 + (comm.rank() == 2)));
                 comm.AllReduce(Tensor(v.data(), DType::kI32, {static_cast<int64_t>(v.size())}));
               }),
      "AllReduce: buffer of rank [0-2] is I32\\[[45]\\] but rank [0-2] has I32\\[[45]\\]");
}

TEST_F(LocalCommunicatorDeathTest, DifferentRootsFailLoudly) {
  EXPECT_DEATH(RunRanks(2,
                        [](Communicator& comm) {
                          std::vector<int32_t> v(2);
                          comm.Broadcast(View(v, {2}), comm.rank());
                        }),
               "Broadcast: rank [01] and rank [01] name different roots");
}

TEST_F(LocalCommunicatorDeathTest, InconsistentAllToAllVCountsFailLoudly) {
  EXPECT_DEATH(RunRanks(2,
                        [](Communicator& comm) {
                          // Each rank sends 1 row to each peer but expects 2 from rank 0.
                          std::vector<int64_t> send(2), recv(3);
                          const int64_t send_rows[] = {1, 1};
                          const int64_t recv_rows[] = {2, 1};
                          comm.AllToAllV(View(send, {2}), send_rows, View(recv, {3}), recv_rows);
                        }),
               "AllToAllV: rank 0 sends 1 rows to rank [01], which expects 2");
}

TEST_F(LocalCommunicatorDeathTest, UnmatchedSendFailsLoudly) {
  EXPECT_DEATH(RunRanks(2,
                        [](Communicator& comm) {
                          std::vector<int32_t> v(2);
                          const PeerOp send{1, View(v, {2})};
                          comm.SendRecv(comm.rank() == 0 ? std::span<const PeerOp>(&send, 1)
                                                         : std::span<const PeerOp>(),
                                        {});
                        }),
               "SendRecv: rank 0 sends 1 buffers to rank 1, which receives 0");
}

TEST_F(LocalCommunicatorDeathTest, BadLocalArgumentsFailLoudly) {
  std::vector<std::unique_ptr<Communicator>> comms = LocalCommunicator::CreateGroup(1);
  std::vector<int32_t> a(4), b(3);
  EXPECT_DEATH(comms[0]->AllGather(View(a, {4}), View(b, {3})),
               "AllGather: recv \\[3\\] must hold");
  EXPECT_DEATH(comms[0]->Broadcast(View(a, {4}), 1), "Broadcast: root 1 of 1 ranks");
  EXPECT_DEATH(comms[0]->AllReduce(View(a, {2, 2}).Columns(0, 1)), "is not contiguous");
  std::vector<uint8_t> bytes(4);
  EXPECT_DEATH(comms[0]->AllReduce(Tensor(bytes.data(), DType::kU8, {4})), "cannot sum U8");
  const int64_t rows[] = {2};
  EXPECT_DEATH(comms[0]->AllGatherV(View(a, {4}), View(a, {4}), rows), "send rows of rank 0");
}

}  // namespace
}  // namespace tspserve
