#include "engine/tensor/tensor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor/allocator.h"
#include "engine/tensor/buffer.h"

namespace tspserve {
namespace {

TEST(TensorTest, ContiguousShapeAndStrides) {
  std::vector<float> data(3 * 5 * 7);
  const Tensor t(data.data(), DType::kF32, {3, 5, 7});
  EXPECT_EQ(t.rank(), 3);
  EXPECT_EQ(t.dim(0), 3);
  EXPECT_EQ(t.dim(-1), 7);
  EXPECT_EQ(t.stride(0), 35);
  EXPECT_EQ(t.stride(1), 7);
  EXPECT_EQ(t.stride(2), 1);
  EXPECT_EQ(t.numel(), 105);
  EXPECT_EQ(t.nbytes(), 105u * 4);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_FALSE(t.empty());
  EXPECT_EQ(t.ShapeString(), "[3, 5, 7]");
  EXPECT_EQ(t.device(), Device::kCpu);
}

TEST(TensorTest, EmptyTensors) {
  EXPECT_TRUE(Tensor().empty());
  std::vector<float> data(4);
  const Tensor zero_rows(data.data(), DType::kF32, {0, 4});
  EXPECT_TRUE(zero_rows.empty());
  EXPECT_EQ(zero_rows.nbytes(), 0u);
  EXPECT_TRUE(zero_rows.is_contiguous());
}

TEST(TensorTest, SliceKeepsStridesAndOffsetsData) {
  std::vector<int32_t> data(6 * 4);
  const Tensor t(data.data(), DType::kI32, {6, 4});
  const Tensor s = t.Slice(2, 5);
  EXPECT_EQ(s.data_as<int32_t>(), data.data() + 8);
  EXPECT_EQ(s.dim(0), 3);
  EXPECT_EQ(s.dim(1), 4);
  EXPECT_EQ(s.stride(0), 4);
  EXPECT_TRUE(s.is_contiguous());
  EXPECT_EQ(t.Slice(6, 6).numel(), 0);
}

TEST(TensorTest, ColumnsAreAStridedView) {
  std::vector<float> data(5 * 9);
  const Tensor t(data.data(), DType::kF32, {5, 9});
  const Tensor c = t.Columns(3, 7);
  EXPECT_EQ(c.data_as<float>(), data.data() + 3);
  EXPECT_EQ(c.dim(0), 5);
  EXPECT_EQ(c.dim(1), 4);
  EXPECT_EQ(c.stride(0), 9);
  EXPECT_EQ(c.stride(1), 1);
  EXPECT_FALSE(c.is_contiguous());
  // A single row of a column view is contiguous: the row stride no longer matters.
  EXPECT_TRUE(c.Slice(2, 3).is_contiguous());
  EXPECT_EQ(c.Slice(2, 3).data_as<float>(), data.data() + 2 * 9 + 3);
  // All columns is the original layout.
  EXPECT_TRUE(t.Columns(0, 9).is_contiguous());
}

TEST(TensorTest, ColumnsOfA3DTensorUseTheLastDimension) {
  std::vector<uint16_t> data(2 * 3 * 8);
  const Tensor t(data.data(), DType::kBF16, {2, 3, 8});
  const Tensor c = t.Columns(6, 8);
  EXPECT_EQ(c.data_as<uint16_t>(), data.data() + 6);
  EXPECT_EQ(c.dim(2), 2);
  EXPECT_EQ(c.stride(1), 8);
  EXPECT_EQ(c.stride(0), 24);
  EXPECT_EQ(c.nbytes(), 2u * 3 * 2 * 2);
}

TEST(TensorTest, ViewReshapesContiguousData) {
  std::vector<float> data(4 * 6);
  const Tensor t(data.data(), DType::kF32, {4, 6});
  const Tensor v = t.View({2, 3, 4});
  EXPECT_EQ(v.data(), t.data());
  EXPECT_EQ(v.rank(), 3);
  EXPECT_EQ(v.stride(0), 12);
  EXPECT_EQ(v.stride(1), 4);
  EXPECT_EQ(t.Slice(1, 3).View({12}).data_as<float>(), data.data() + 6);
}

TEST(TensorDeathTest, BadViewsAreCaught) {
  std::vector<float> data(4 * 6);
  const Tensor t(data.data(), DType::kF32, {4, 6});
  EXPECT_DEATH(t.Slice(2, 5), "slice");
  EXPECT_DEATH(t.Columns(4, 3), "columns");
  EXPECT_DEATH(t.View({5, 5}), "View");
  EXPECT_DEATH(t.Columns(1, 3).View({8}), "strided");
}

// Counts raw allocations and frees so that ownership mistakes show up as mismatched counts.
class CountingAllocator final : public Allocator {
 public:
  int allocs = 0;
  int frees = 0;
  bool fail = false;

 protected:
  void* RawAllocate(size_t bytes) override {
    if (fail) return nullptr;
    ++allocs;
    return std::malloc(bytes);
  }
  void RawFree(void* ptr) override {
    ++frees;
    std::free(ptr);
  }
};

TEST(AllocatorTest, TracksInUseAndPeakByKind) {
  HostAllocator allocator;
  auto a = allocator.Allocate(1000, MemoryKind::kWeights);
  auto b = allocator.Allocate(300, MemoryKind::kActivations);
  auto c = allocator.Allocate(500, MemoryKind::kActivations);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*a) % 256, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*c) % 256, 0u);
  MemoryStats s = allocator.stats();
  EXPECT_EQ(s.in_use[static_cast<int>(MemoryKind::kWeights)], 1000);
  EXPECT_EQ(s.in_use[static_cast<int>(MemoryKind::kActivations)], 800);
  EXPECT_EQ(s.in_use[static_cast<int>(MemoryKind::kKvCache)], 0);
  EXPECT_EQ(s.total_in_use, 1800);
  EXPECT_EQ(s.total_peak, 1800);

  allocator.Free(*b, 300, MemoryKind::kActivations);
  auto d = allocator.Allocate(100, MemoryKind::kKvCache);
  ASSERT_TRUE(d.ok());
  s = allocator.stats();
  EXPECT_EQ(s.in_use[static_cast<int>(MemoryKind::kActivations)], 500);
  EXPECT_EQ(s.peak[static_cast<int>(MemoryKind::kActivations)], 800);
  EXPECT_EQ(s.peak[static_cast<int>(MemoryKind::kKvCache)], 100);
  EXPECT_EQ(s.total_in_use, 1600);
  // The total peak is the high-water mark of the sum, not the sum of the per-kind peaks (1900).
  EXPECT_EQ(s.total_peak, 1800);

  allocator.Free(*a, 1000, MemoryKind::kWeights);
  allocator.Free(*c, 500, MemoryKind::kActivations);
  allocator.Free(*d, 100, MemoryKind::kKvCache);
  s = allocator.stats();
  EXPECT_EQ(s.total_in_use, 0);
  for (int k = 0; k < kNumMemoryKinds; ++k) EXPECT_EQ(s.in_use[k], 0) << k;
  EXPECT_EQ(s.peak[static_cast<int>(MemoryKind::kWeights)], 1000);
}

TEST(AllocatorTest, ResetPeaksKeepsInUse) {
  HostAllocator allocator;
  auto a = allocator.Allocate(64, MemoryKind::kWorkspace);
  auto b = allocator.Allocate(4096, MemoryKind::kWorkspace);
  ASSERT_TRUE(a.ok() && b.ok());
  allocator.Free(*b, 4096, MemoryKind::kWorkspace);
  allocator.ResetPeaks();
  MemoryStats s = allocator.stats();
  EXPECT_EQ(s.peak[static_cast<int>(MemoryKind::kWorkspace)], 64);
  EXPECT_EQ(s.total_peak, 64);
  EXPECT_EQ(s.in_use[static_cast<int>(MemoryKind::kWorkspace)], 64);

  auto c = allocator.Allocate(10, MemoryKind::kWeights);
  ASSERT_TRUE(c.ok());
  s = allocator.stats();
  EXPECT_EQ(s.total_peak, 74);
  EXPECT_EQ(s.peak[static_cast<int>(MemoryKind::kWeights)], 10);
  allocator.Free(*a, 64, MemoryKind::kWorkspace);
  allocator.Free(*c, 10, MemoryKind::kWeights);
}

TEST(AllocatorTest, ZeroBytesIsAValidAllocation) {
  HostAllocator allocator;
  auto p = allocator.Allocate(0, MemoryKind::kActivations);
  ASSERT_TRUE(p.ok());
  EXPECT_NE(*p, nullptr);
  EXPECT_EQ(allocator.stats().total_in_use, 0);
  allocator.Free(*p, 0, MemoryKind::kActivations);
}

TEST(AllocatorTest, OutOfMemoryIsAnErrorNamingSizeAndKind) {
  CountingAllocator allocator;
  allocator.fail = true;
  auto p = allocator.Allocate(12345, MemoryKind::kKvCache);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(p.status().message()).find("12345"), std::string::npos);
  EXPECT_NE(std::string(p.status().message()).find("kv_cache"), std::string::npos);
  EXPECT_EQ(allocator.stats().total_in_use, 0);
  EXPECT_EQ(allocator.stats().total_peak, 0);
}

TEST(AllocatorTest, MemoryKindNames) {
  EXPECT_EQ(MemoryKindName(MemoryKind::kWeights), "weights");
  EXPECT_EQ(MemoryKindName(MemoryKind::kKvCache), "kv_cache");
  EXPECT_EQ(MemoryKindName(MemoryKind::kActivations), "activations");
  EXPECT_EQ(MemoryKindName(MemoryKind::kWorkspace), "workspace");
}

TEST(BufferTest, FreesOnDestruction) {
  CountingAllocator allocator;
  {
    absl::StatusOr<Buffer> b = Buffer::Allocate(allocator, 256, MemoryKind::kWeights, Device::kCpu);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->size(), 256u);
    EXPECT_NE(b->data(), nullptr);
    EXPECT_EQ(allocator.stats().in_use[static_cast<int>(MemoryKind::kWeights)], 256);
  }
  EXPECT_EQ(allocator.allocs, 1);
  EXPECT_EQ(allocator.frees, 1);
  EXPECT_EQ(allocator.stats().total_in_use, 0);
}

TEST(BufferTest, MovesTransferOwnershipAndFreeExactlyOnce) {
  CountingAllocator allocator;
  {
    Buffer a = *Buffer::Allocate(allocator, 100, MemoryKind::kActivations, Device::kCpu);
    void* const ptr = a.data();
    Buffer b(std::move(a));
    EXPECT_EQ(b.data(), ptr);
    EXPECT_EQ(b.size(), 100u);
    EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is defined
    EXPECT_EQ(a.size(), 0u);

    Buffer c = *Buffer::Allocate(allocator, 40, MemoryKind::kWorkspace, Device::kCpu);
    c = std::move(b);  // frees c's old allocation, takes b's
    EXPECT_EQ(allocator.frees, 1);
    EXPECT_EQ(c.data(), ptr);
    EXPECT_EQ(allocator.stats().in_use[static_cast<int>(MemoryKind::kWorkspace)], 0);
    EXPECT_EQ(allocator.stats().in_use[static_cast<int>(MemoryKind::kActivations)], 100);

    Buffer& self = c;
    c = std::move(self);  // self-move keeps the allocation
    EXPECT_EQ(c.data(), ptr);
    EXPECT_EQ(allocator.frees, 1);
  }
  EXPECT_EQ(allocator.allocs, 2);
  EXPECT_EQ(allocator.frees, 2);
  EXPECT_EQ(allocator.stats().total_in_use, 0);
}

TEST(BufferTest, ResetFreesOnceAndEmptyBufferIsHarmless) {
  CountingAllocator allocator;
  Buffer b = *Buffer::Allocate(allocator, 8, MemoryKind::kKvCache, Device::kCpu);
  b.Reset();
  b.Reset();
  EXPECT_EQ(allocator.frees, 1);
  EXPECT_EQ(b.data(), nullptr);
  Buffer empty;
  empty.Reset();
  Buffer moved(std::move(empty));
  EXPECT_EQ(moved.data(), nullptr);
  EXPECT_EQ(allocator.frees, 1);
}

TEST(BufferTest, AsTensorViewsTheBytes) {
  HostAllocator allocator;
  Buffer b = *Buffer::Allocate(allocator, 1024, MemoryKind::kActivations, Device::kCpu);
  const Tensor t = b.AsTensor(DType::kF32, {4, 16}, 256);
  EXPECT_EQ(t.data(), static_cast<char*>(b.data()) + 256);
  EXPECT_EQ(t.nbytes(), 256u);
  EXPECT_EQ(t.device(), Device::kCpu);
  const Tensor whole = b.AsTensor(DType::kI64, {128});
  EXPECT_EQ(whole.nbytes(), 1024u);
}

TEST(BufferDeathTest, AsTensorPastTheEndIsCaught) {
  HostAllocator allocator;
  Buffer b = *Buffer::Allocate(allocator, 1024, MemoryKind::kActivations, Device::kCpu);
  EXPECT_DEATH(b.AsTensor(DType::kF32, {4, 16}, 769), "past buffer end");
}

}  // namespace
}  // namespace tspserve
