#include "engine/kv/paged_kv_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace tspserve {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<Page> PagesOf(const PagedKvCache& cache, SeqId id) {
  std::span<const Page> pages = cache.Pages(id);
  return {pages.begin(), pages.end()};
}

TEST(PagedKvCacheTest, AddSequenceTwiceIsAlreadyExists) {
  PagedKvCache cache(4, 4);
  ASSERT_TRUE(cache.AddSequence(7).ok());
  EXPECT_EQ(cache.AddSequence(7).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(cache.Contains(7));
  EXPECT_FALSE(cache.Contains(8));
  EXPECT_EQ(cache.NumTokens(7), 0);
  EXPECT_THAT(cache.Pages(7), IsEmpty());
}

TEST(PagedKvCacheTest, SlotsAreBlockTimesBlockSizePlusOffset) {
  PagedKvCache cache(8, 3);
  ASSERT_TRUE(cache.AddSequence(1).ok());
  auto slots = cache.Append(1, 0, 7);  // blocks 0, 1, 2 in that order from a fresh pool
  ASSERT_TRUE(slots.ok()) << slots.status();
  EXPECT_THAT(*slots, ElementsAre(0, 1, 2, 3, 4, 5, 6));
  EXPECT_THAT(PagesOf(cache, 1), ElementsAre(Page{0, 0, 3}, Page{1, 3, 3}, Page{2, 6, 1}));
  EXPECT_EQ(cache.NumTokens(1), 7);
  EXPECT_EQ(cache.num_used_blocks(), 3);
  EXPECT_EQ(cache.num_free_blocks(), 5);
}

TEST(PagedKvCacheTest, ContinuingPositionsFillTheLastPageFirst) {
  PagedKvCache cache(8, 4);
  ASSERT_TRUE(cache.AddSequence(1).ok());
  ASSERT_TRUE(cache.AddSequence(2).ok());
  ASSERT_TRUE(cache.Append(1, 0, 2).ok());  // block 0
  ASSERT_TRUE(cache.Append(2, 0, 1).ok());  // block 1
  EXPECT_EQ(cache.PagesNeeded(1, 2, 2), 0);
  EXPECT_EQ(cache.PagesNeeded(1, 2, 3), 1);
  auto slots = cache.Append(1, 2, 3);
  ASSERT_TRUE(slots.ok());
  EXPECT_THAT(*slots, ElementsAre(2, 3, 8));
  EXPECT_THAT(PagesOf(cache, 1), ElementsAre(Page{0, 0, 4}, Page{2, 4, 1}));
}

TEST(PagedKvCacheTest, AGapInPositionsStartsANewPage) {
  // Under TSP the positions between the two ranges live on other ranks.
  PagedKvCache cache(8, 4);
  ASSERT_TRUE(cache.AddSequence(1).ok());
  ASSERT_TRUE(cache.Append(1, 0, 2).ok());
  EXPECT_EQ(cache.PagesNeeded(1, 10, 1), 1);
  auto slots = cache.Append(1, 10, 1);
  ASSERT_TRUE(slots.ok());
  EXPECT_THAT(*slots, ElementsAre(4));
  EXPECT_THAT(PagesOf(cache, 1), ElementsAre(Page{0, 0, 2}, Page{1, 10, 1}));
  EXPECT_EQ(cache.NumTokens(1), 3);
  EXPECT_TRUE(cache.CheckIntegrity().ok());
}

TEST(PagedKvCacheTest, ZeroCountAppendChangesNothing) {
  PagedKvCache cache(2, 4);
  ASSERT_TRUE(cache.AddSequence(1).ok());
  auto slots = cache.Append(1, 5, 0);
  ASSERT_TRUE(slots.ok());
  EXPECT_THAT(*slots, IsEmpty());
  EXPECT_THAT(cache.Pages(1), IsEmpty());
  EXPECT_EQ(cache.PagesNeeded(1, 5, 0), 0);
}

TEST(PagedKvCacheTest, BadAppendsAreRejectedWithoutChange) {
  PagedKvCache cache(4, 4);
  ASSERT_TRUE(cache.AddSequence(1).ok());
  ASSERT_TRUE(cache.Append(1, 4, 3).ok());
  EXPECT_EQ(cache.Append(2, 0, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache.Append(1, 6, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Append(1, 0, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Append(1, -1, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Append(1, 7, -1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Append(1, 2147483000, 1000).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(PagesOf(cache, 1), ElementsAre(Page{0, 4, 3}));
  EXPECT_EQ(cache.num_free_blocks(), 3);
}

TEST(PagedKvCacheTest, ResourceExhaustedLeavesStateUnchanged) {
  PagedKvCache cache(3, 2);
  ASSERT_TRUE(cache.AddSequence(1).ok());
  ASSERT_TRUE(cache.AddSequence(2).ok());
  ASSERT_TRUE(cache.Append(1, 0, 3).ok());  // blocks 0, 1 (last page has room for 1)
  ASSERT_TRUE(cache.Fork(1, 3).ok());
  const std::vector<Page> before = PagesOf(cache, 1);
  // Needs the copy of the shared last page plus two new pages: 3 > 1 free.
  EXPECT_EQ(cache.PagesNeeded(1, 3, 5), 3);
  auto status = cache.Append(1, 3, 5).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(PagesOf(cache, 1), before);
  EXPECT_EQ(PagesOf(cache, 3), before);
  EXPECT_EQ(cache.num_free_blocks(), 1);
  EXPECT_THAT(cache.TakePendingCopies(), IsEmpty());
  EXPECT_EQ(cache.Append(2, 0, 4).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(cache.Pages(2), IsEmpty());
  EXPECT_TRUE(cache.CheckIntegrity().ok());
  EXPECT_TRUE(cache.Append(2, 0, 2).ok());  // exactly the last free block
  EXPECT_EQ(cache.num_free_blocks(), 0);
}

TEST(PagedKvCacheTest, AppendingToASharedPageCopiesItFirst) {
  PagedKvCache cache(6, 4);
  ASSERT_TRUE(cache.AddSequence(1).ok());
  ASSERT_TRUE(cache.Append(1, 0, 6).ok());  // blocks 0 (full), 1 (2 tokens)
  ASSERT_TRUE(cache.Fork(1, 2).ok());
  EXPECT_EQ(cache.num_used_blocks(), 2);
  EXPECT_EQ(cache.PagesNeeded(2, 6, 1), 1);
  auto slots = cache.Append(2, 6, 1);
  ASSERT_TRUE(slots.ok());
  EXPECT_THAT(*slots, ElementsAre(2 * 4 + 2));  // block 2 is the copy
  EXPECT_THAT(cache.TakePendingCopies(), ElementsAre(BlockCopy{1, 2}));
  EXPECT_THAT(cache.TakePendingCopies(), IsEmpty());
  EXPECT_THAT(PagesOf(cache, 2), ElementsAre(Page{0, 0, 4}, Page{2, 4, 3}));
  EXPECT_THAT(PagesOf(cache, 1), ElementsAre(Page{0, 0, 4}, Page{1, 4, 2}));
  // The parent is now the only holder of block 1: no copy.
  EXPECT_EQ(cache.PagesNeeded(1, 6, 2), 0);
  ASSERT_TRUE(cache.Append(1, 6, 2).ok());
  EXPECT_THAT(cache.TakePendingCopies(), IsEmpty());
  // A full shared page is never written: the next tokens go to a new page without a copy.
  ASSERT_TRUE(cache.Fork(1, 3).ok());
  EXPECT_EQ(cache.PagesNeeded(3, 8, 1), 1);
  ASSERT_TRUE(cache.Append(3, 8, 1).ok());
  EXPECT_THAT(cache.TakePendingCopies(), IsEmpty());
  EXPECT_THAT(PagesOf(cache, 3), ElementsAre(Page{0, 0, 4}, Page{1, 4, 4}, Page{3, 8, 1}));
  EXPECT_TRUE(cache.CheckIntegrity().ok());
}

TEST(PagedKvCacheTest, ForkErrors) {
  PagedKvCache cache(2, 2);
  ASSERT_TRUE(cache.AddSequence(1).ok());
  EXPECT_EQ(cache.Fork(5, 6).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache.Fork(1, 1).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(cache.Contains(6));
}

TEST(PagedKvCacheTest, TruncateShrinksAndFreesPages) {
  PagedKvCache cache(8, 4);
  ASSERT_TRUE(cache.AddSequence(1).ok());
  ASSERT_TRUE(cache.Append(1, 0, 5).ok());
  ASSERT_TRUE(cache.Append(1, 12, 6).ok());
  EXPECT_EQ(cache.num_used_blocks(), 4);
  ASSERT_TRUE(cache.Truncate(1, 14).ok());
  EXPECT_THAT(PagesOf(cache, 1), ElementsAre(Page{0, 0, 4}, Page{1, 4, 1}, Page{2, 12, 2}));
  ASSERT_TRUE(cache.Truncate(1, 9).ok());  // inside the gap
  EXPECT_THAT(PagesOf(cache, 1), ElementsAre(Page{0, 0, 4}, Page{1, 4, 1}));
  ASSERT_TRUE(cache.Truncate(1, 100).ok());
  EXPECT_EQ(cache.NumTokens(1), 5);
  ASSERT_TRUE(cache.Truncate(1, 4).ok());
  EXPECT_THAT(PagesOf(cache, 1), ElementsAre(Page{0, 0, 4}));
  EXPECT_EQ(cache.num_used_blocks(), 1);
  EXPECT_EQ(cache.Truncate(1, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Truncate(9, 0).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(cache.Truncate(1, 0).ok());
  EXPECT_THAT(cache.Pages(1), IsEmpty());
  EXPECT_TRUE(cache.Contains(1));
  EXPECT_EQ(cache.num_used_blocks(), 0);
  EXPECT_TRUE(cache.CheckIntegrity().ok());
}

TEST(PagedKvCacheTest, TruncatedSharedPageIsCopiedBeforeReuse) {
  PagedKvCache cache(4, 4);
  ASSERT_TRUE(cache.AddSequence(1).ok());
  ASSERT_TRUE(cache.Append(1, 0, 4).ok());
  ASSERT_TRUE(cache.Fork(1, 2).ok());
  ASSERT_TRUE(cache.Truncate(2, 2).ok());  // rejected speculative tokens of the child
  auto slots = cache.Append(2, 2, 1);      // would overwrite position 2 of the parent
  ASSERT_TRUE(slots.ok());
  EXPECT_THAT(cache.TakePendingCopies(), ElementsAre(BlockCopy{0, 1}));
  EXPECT_THAT(*slots, ElementsAre(1 * 4 + 2));
  EXPECT_THAT(PagesOf(cache, 1), ElementsAre(Page{0, 0, 4}));
}

TEST(PagedKvCacheTest, FreeReleasesBlocksAndIgnoresUnknownIds) {
  PagedKvCache cache(4, 2);
  ASSERT_TRUE(cache.AddSequence(1).ok());
  ASSERT_TRUE(cache.Append(1, 0, 5).ok());
  ASSERT_TRUE(cache.Fork(1, 2).ok());
  cache.Free(1);
  EXPECT_EQ(cache.num_used_blocks(), 3);  // still held by the fork
  cache.Free(2);
  cache.Free(42);
  EXPECT_EQ(cache.num_used_blocks(), 0);
  EXPECT_FALSE(cache.Contains(1));
  EXPECT_EQ(cache.NumTokens(1), 0);
  EXPECT_EQ(cache.num_sequences(), 0);
  EXPECT_TRUE(cache.CheckIntegrity().ok());
}

TEST(PagedKvCacheTest, PagesNeededForUnknownSequenceCountsFromEmpty) {
  PagedKvCache cache(4, 4);
  EXPECT_EQ(cache.PagesNeeded(3, 0, 9), 3);
  EXPECT_EQ(cache.PagesNeeded(3, 0, 0), 0);
}

}  // namespace
}  // namespace tspserve
