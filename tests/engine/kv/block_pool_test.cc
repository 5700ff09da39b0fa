#include "engine/kv/block_pool.h"

#include <gtest/gtest.h>

namespace tspserve {
namespace {

TEST(BlockPoolTest, AllocatesEveryBlockOnceThenRunsOut) {
  BlockPool pool(5);
  EXPECT_EQ(pool.num_blocks(), 5);
  for (int32_t expected = 0; expected < 5; ++expected) {
    std::optional<int32_t> block = pool.Allocate();
    ASSERT_TRUE(block.has_value());
    EXPECT_EQ(*block, expected);
    EXPECT_EQ(pool.ref_count(*block), 1);
  }
  EXPECT_EQ(pool.num_free(), 0);
  EXPECT_FALSE(pool.Allocate().has_value());
  EXPECT_TRUE(pool.CheckIntegrity().ok());
}

TEST(BlockPoolTest, EmptyPoolNeverAllocates) {
  BlockPool pool(0);
  EXPECT_FALSE(pool.Allocate().has_value());
  EXPECT_TRUE(pool.CheckIntegrity().ok());
}

TEST(BlockPoolTest, SharedBlockIsFreedByTheLastRelease) {
  BlockPool pool(2);
  const int32_t block = *pool.Allocate();
  pool.AddRef(block);
  pool.AddRef(block);
  EXPECT_EQ(pool.ref_count(block), 3);
  EXPECT_FALSE(pool.Release(block));
  EXPECT_FALSE(pool.Release(block));
  EXPECT_EQ(pool.num_free(), 1);
  EXPECT_TRUE(pool.Release(block));
  EXPECT_EQ(pool.ref_count(block), 0);
  EXPECT_EQ(pool.num_free(), 2);
  EXPECT_TRUE(pool.CheckIntegrity().ok());
}

TEST(BlockPoolTest, ReusesTheMostRecentlyFreedBlock) {
  BlockPool pool(4);
  const int32_t a = *pool.Allocate();
  const int32_t b = *pool.Allocate();
  pool.Release(a);
  pool.Release(b);
  EXPECT_EQ(*pool.Allocate(), b);
  EXPECT_EQ(*pool.Allocate(), a);
}

TEST(BlockPoolDeathTest, ReleasingAFreeBlockIsABrokenInvariant) {
  BlockPool pool(2);
  EXPECT_DEATH(pool.Release(1), "free block");
  EXPECT_DEATH(pool.AddRef(0), "free block");
  EXPECT_DEATH(pool.ref_count(2), "out of range");
}

}  // namespace
}  // namespace tspserve
