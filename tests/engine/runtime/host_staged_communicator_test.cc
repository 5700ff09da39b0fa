// HostStagedCommunicator over CPU backends: every collective gives what the host group computes
// directly, including the in-place forms, a ring of SendRecv and a Split, and records the same
// bytes. (On the GPU the same class moves device buffers; gpu_equivalence_test runs it there.)
#include "engine/runtime/host_staged_communicator.h"

#include <functional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/comm/local_communicator.h"

namespace tspserve {
namespace {

constexpr int kRanks = 3;

// Runs fn(rank, comm, backend) on kRanks threads, each rank with a CPU backend and a staged handle.
void RunGroup(const std::function<void(int, Communicator&, Backend&)>& fn) {
  std::vector<std::unique_ptr<Communicator>> host = LocalCommunicator::CreateGroup(kRanks);
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<std::unique_ptr<Communicator>> staged;
  for (int r = 0; r < kRanks; ++r) {
    backends.push_back(MakeCpuBackend());
    staged.push_back(std::make_unique<HostStagedCommunicator>(std::move(host[static_cast<size_t>(r)]),
                                                              *backends.back()));
  }
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] { fn(r, *staged[static_cast<size_t>(r)], *backends[static_cast<size_t>(r)]); });
  }
  for (std::thread& t : threads) t.join();
}

Tensor F32(std::vector<float>& v, std::initializer_list<int64_t> shape) {
  return Tensor(v.data(), DType::kF32, shape);
}

TEST(HostStagedCommunicatorTest, ReductionsAndGathersMatchTheHostGroup) {
  RunGroup([](int r, Communicator& comm, Backend&) {
    std::vector<float> sum = {1.0f * r, 2.0f * r, 3.0f, 4.0f + r, 5.0f};
    comm.AllReduce(F32(sum, {5}));
    EXPECT_EQ(sum, (std::vector<float>{3, 6, 9, 15, 15}));

    std::vector<float> all(2 * kRanks, -1.0f);
    all[2 * r] = 10.0f * r;
    all[2 * r + 1] = 10.0f * r + 1;
    const Tensor recv = F32(all, {2 * kRanks});
    comm.AllGather(recv.Slice(2 * r, 2 * r + 2), recv);  // in place
    EXPECT_EQ(all, (std::vector<float>{0, 1, 10, 11, 20, 21}));

    std::vector<float> parts = {1, 2, 3, 4, 5, 6};
    const Tensor send = F32(parts, {6});
    comm.ReduceScatter(send, send.Slice(2 * r, 2 * r + 2));  // in place
    EXPECT_EQ(parts[static_cast<size_t>(2 * r)], 3.0f * (2 * r + 1));
    EXPECT_EQ(parts[static_cast<size_t>(2 * r + 1)], 3.0f * (2 * r + 2));

    std::vector<float> rows(static_cast<size_t>(r), static_cast<float>(r));  // ranks send 0, 1, 2 rows
    std::vector<float> gathered(3, -1.0f);
    const int64_t counts[kRanks] = {0, 1, 2};
    comm.AllGatherV(Tensor(rows.data(), DType::kF32, {r, 1}), F32(gathered, {3, 1}), counts);
    EXPECT_EQ(gathered, (std::vector<float>{1, 2, 2}));

    std::vector<float> root(4, static_cast<float>(r));
    comm.Broadcast(F32(root, {4}), 2);
    EXPECT_EQ(root, std::vector<float>(4, 2.0f));
  });
}

TEST(HostStagedCommunicatorTest, RingAllToAllAndSplit) {
  RunGroup([](int r, Communicator& comm, Backend&) {
    std::vector<float> mine(3, static_cast<float>(r)), from_left(3, -1.0f);
    const Communicator::PeerOp send{(r + 1) % kRanks, F32(mine, {3})};
    const Communicator::PeerOp recv{(r + kRanks - 1) % kRanks, F32(from_left, {3})};
    comm.SendRecv({&send, 1}, {&recv, 1});
    EXPECT_EQ(from_left, std::vector<float>(3, static_cast<float>((r + kRanks - 1) % kRanks)));

    std::vector<float> out = {10.0f * r, 10.0f * r + 1, 10.0f * r + 2}, in(3, -1.0f);
    comm.AllToAll(F32(out, {3}), F32(in, {3}));
    EXPECT_EQ(in, (std::vector<float>{static_cast<float>(r), 10.0f + r, 20.0f + r}));

    std::unique_ptr<Communicator> pair = comm.Split(r == 1 ? -1 : 0, -r);  // ranks 2, 0 in that order
    if (r == 1) {
      EXPECT_EQ(pair, nullptr);
      return;
    }
    ASSERT_NE(pair, nullptr);
    EXPECT_EQ(pair->rank(), r == 2 ? 0 : 1);
    std::vector<float> value = {static_cast<float>(r)};
    pair->AllReduce(F32(value, {1}));
    EXPECT_EQ(value[0], 2.0f);
    EXPECT_EQ(pair->stats().count(CollectiveKind::kAllReduce), 1);
  });
}

TEST(HostStagedCommunicatorTest, RecordsTheHostGroupsBytes) {
  RunGroup([](int r, Communicator& comm, Backend&) {
    std::vector<float> buffer(6, 1.0f);
    comm.AllReduce(F32(buffer, {6}));
    std::vector<float> all(3 * kRanks);
    comm.AllGather(F32(buffer, {6}).Slice(0, 3), F32(all, {3 * kRanks}));
    EXPECT_EQ(comm.stats().count(CollectiveKind::kAllReduce), 1);
    // Reduce-scatter sends the 4 elements of the other blocks, all-gather this block twice.
    EXPECT_EQ(comm.stats().bytes(CollectiveKind::kAllReduce), (4 + 2 * 2) * 4);
    EXPECT_EQ(comm.stats().bytes(CollectiveKind::kAllGather), 2 * 3 * 4);
  });
}

}  // namespace
}  // namespace tspserve
