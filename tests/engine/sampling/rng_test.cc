#include "engine/sampling/rng.h"

#include <gtest/gtest.h>

namespace tspserve {
namespace {

// Reference values of xoshiro256** seeded by splitmix64, computed independently (a Python port).
TEST(RngTest, MatchesTheReferenceStream) {
  Rng zero(0);
  EXPECT_EQ(zero.Next(), 0x99ec5f36cb75f2b4ull);
  EXPECT_EQ(zero.Next(), 0xbf6e1f784956452aull);
  EXPECT_EQ(zero.Next(), 0x1a5f849d4933e6e0ull);
  Rng answer(42);
  EXPECT_EQ(answer.Next(), 0x15780b2e0c2ec716ull);
  EXPECT_EQ(answer.Next(), 0x6104d9866d113a7eull);
  EXPECT_EQ(answer.Next(), 0xae17533239e499a1ull);
}

TEST(RngTest, UniformIsInUnitIntervalAndRoughlyFlat) {
  Rng rng(7);
  int buckets[10] = {};
  constexpr int kDraws = 100000;
  for (int i = 0; i < kDraws; ++i) {
    const double u = rng.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    ++buckets[static_cast<int>(u * 10)];
  }
  for (int count : buckets) EXPECT_NEAR(count, kDraws / 10, 500);
}

TEST(RngTest, UnseededGeneratorsDiffer) {
  EXPECT_NE(Rng(RandomSeed()).Next(), Rng(RandomSeed()).Next());
}

}  // namespace
}  // namespace tspserve
