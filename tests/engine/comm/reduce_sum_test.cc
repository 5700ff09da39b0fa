#include "engine/comm/reduce_sum.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace tspserve {
namespace {

TEST(ReduceSumTest, IntegersSumInSourceOrderAcrossChunks) {
  // 1300 elements: more than two internal chunks, the last one partial.
  const int64_t n = 1300;
  std::vector<int32_t> a(n), b(n), c(n), out(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = static_cast<int32_t>(i);
    b[i] = static_cast<int32_t>(-3 * i);
    c[i] = 7;
  }
  const void* sources[] = {a.data(), b.data(), c.data()};
  SumArrays(DType::kI32, sources, n, out.data());
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], -2 * i + 7) << i;
}

TEST(ReduceSumTest, DestinationMayBeASource) {
  std::vector<int64_t> a = {1, 2, 3}, b = {10, 20, 30};
  const void* sources[] = {a.data(), b.data()};
  SumArrays(DType::kI64, sources, 3, a.data());
  EXPECT_EQ(a, (std::vector<int64_t>{11, 22, 33}));
}

TEST(ReduceSumTest, IntegerOverflowWraps) {
  std::vector<int32_t> a = {std::numeric_limits<int32_t>::max()}, b = {1}, out = {0};
  const void* sources[] = {a.data(), b.data()};
  SumArrays(DType::kI32, sources, 1, out.data());
  EXPECT_EQ(out[0], std::numeric_limits<int32_t>::min());
  std::vector<int64_t> c = {std::numeric_limits<int64_t>::min()}, d = {-1}, out64 = {0};
  const void* sources64[] = {c.data(), d.data()};
  SumArrays(DType::kI64, sources64, 1, out64.data());
  EXPECT_EQ(out64[0], std::numeric_limits<int64_t>::max());
}

TEST(ReduceSumTest, Bf16AccumulatesInFloatAndRoundsOnce) {
  // 256 + 1 + 1: bf16 steps of 2 at 256, so adding in bf16 would stay at 256; in float it is 258.
  std::vector<uint16_t> a = {FloatToBf16(256.0f)}, b = {FloatToBf16(1.0f)}, c = {FloatToBf16(1.0f)};
  std::vector<uint16_t> out = {0};
  const void* sources[] = {a.data(), b.data(), c.data()};
  SumArrays(DType::kBF16, sources, 1, out.data());
  EXPECT_EQ(Bf16ToFloat(out[0]), 258.0f);
}

TEST(ReduceSumTest, F16AndF32) {
  std::vector<uint16_t> a = {FloatToF16(1.5f), FloatToF16(-2.0f)},
                        b = {FloatToF16(0.25f), FloatToF16(2.0f)};
  std::vector<uint16_t> out(2);
  const void* sources[] = {a.data(), b.data()};
  SumArrays(DType::kF16, sources, 2, out.data());
  EXPECT_EQ(F16ToFloat(out[0]), 1.75f);
  EXPECT_EQ(F16ToFloat(out[1]), 0.0f);
  std::vector<float> x = {0.5f, 1e30f}, y = {0.25f, -1e30f}, z(2);
  const void* float_sources[] = {x.data(), y.data()};
  SumArrays(DType::kF32, float_sources, 2, z.data());
  EXPECT_EQ(z, (std::vector<float>{0.75f, 0.0f}));
}

TEST(ReduceSumTest, SingleSourceIsACopyAndZeroCountWritesNothing) {
  std::vector<int32_t> a = {4, 5}, out = {0, 0};
  const void* sources[] = {a.data()};
  SumArrays(DType::kI32, sources, 2, out.data());
  EXPECT_EQ(out, a);
  SumArrays(DType::kI32, sources, 0, nullptr);
}

TEST(ReduceSumTest, SummableDTypes) {
  EXPECT_TRUE(IsSummable(DType::kF32));
  EXPECT_TRUE(IsSummable(DType::kF16));
  EXPECT_TRUE(IsSummable(DType::kBF16));
  EXPECT_TRUE(IsSummable(DType::kI32));
  EXPECT_TRUE(IsSummable(DType::kI64));
  EXPECT_FALSE(IsSummable(DType::kU8));
}

TEST(ReduceSumDeathTest, RejectsBytes) {
  std::vector<uint8_t> a = {1};
  const void* sources[] = {a.data()};
  EXPECT_DEATH(SumArrays(DType::kU8, sources, 1, a.data()), "sum of dtype U8");
}

}  // namespace
}  // namespace tspserve
