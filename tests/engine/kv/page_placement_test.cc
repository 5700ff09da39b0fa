#include "engine/kv/page_placement.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace tspserve {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

int32_t TokensOf(const std::vector<TokenRange>& ranges) {
  int32_t total = 0;
  for (const TokenRange& range : ranges) total += range.size();
  return total;
}

int32_t CeilDiv(int32_t a, int32_t b) { return (a + b - 1) / b; }

// Checks every documented property of one partition.
void CheckPartition(int32_t num_tokens, int32_t degree, int32_t block_size) {
  SCOPED_TRACE(testing::Message() << "num_tokens " << num_tokens << " degree " << degree
                                  << " block_size " << block_size);
  const auto per_rank = ZigZagPartition(num_tokens, degree, block_size);
  ASSERT_EQ(static_cast<int32_t>(per_rank.size()), degree);
  std::vector<int32_t> owner(static_cast<size_t>(num_tokens), -1);
  std::vector<int32_t> tokens;
  std::vector<int32_t> pages;
  int32_t last_page_rank = -1;
  for (int32_t r = 0; r < degree; ++r) {
    const std::vector<TokenRange>& ranges = per_rank[static_cast<size_t>(r)];
    EXPECT_LE(ranges.size(), 2u);
    int32_t rank_pages = 0;
    for (size_t i = 0; i < ranges.size(); ++i) {
      const TokenRange& range = ranges[i];
      ASSERT_GE(range.begin, 0);
      ASSERT_LT(range.begin, range.end);  // never empty
      ASSERT_LE(range.end, num_tokens);
      EXPECT_EQ(range.begin % block_size, 0) << "range starts mid-page";
      EXPECT_TRUE(range.end % block_size == 0 || range.end == num_tokens) << "range ends mid-page";
      if (i > 0) {
        EXPECT_LT(ranges[i - 1].end, range.begin) << "unsorted or unmerged";
      }
      for (int32_t p = range.begin; p < range.end; ++p) {
        ASSERT_EQ(owner[static_cast<size_t>(p)], -1) << "position " << p << " owned twice";
        owner[static_cast<size_t>(p)] = r;
      }
      rank_pages += CeilDiv(range.size(), block_size);
      if (range.end == num_tokens) last_page_rank = r;
    }
    tokens.push_back(TokensOf(ranges));
    pages.push_back(rank_pages);
  }
  for (int32_t p = 0; p < num_tokens; ++p) {
    ASSERT_NE(owner[static_cast<size_t>(p)], -1) << "position " << p << " unowned";
  }
  const int32_t total_pages = CeilDiv(num_tokens, block_size);
  const int32_t floor_pages = total_pages / degree;
  const int32_t ceil_pages = CeilDiv(total_pages, degree);
  for (int32_t r = 0; r < degree; ++r) {
    EXPECT_GE(pages[static_cast<size_t>(r)], floor_pages);
    EXPECT_LE(pages[static_cast<size_t>(r)], ceil_pages);
  }
  if (num_tokens > 0) {
    EXPECT_EQ(pages[static_cast<size_t>(last_page_rank)], ceil_pages);
  }
  const auto [lo, hi] = std::minmax_element(tokens.begin(), tokens.end());
  EXPECT_LE(*hi - *lo, block_size);
  if (total_pages % degree == 0) {
    EXPECT_LT(*hi - *lo, block_size);
  }
}

TEST(ZigZagPartitionTest, AllPropertiesForManyShapes) {
  for (int32_t degree = 1; degree <= 4; ++degree) {
    for (int32_t block_size : {1, 2, 3, 4, 16}) {
      const int32_t n = 2 * degree * block_size;  // one page per chunk
      for (int32_t num_tokens : {0, 1, 2, n - 1, n, n + 1, 2 * degree + 1, 37, 200}) {
        CheckPartition(num_tokens, degree, block_size);
      }
    }
  }
  for (int32_t num_tokens = 0; num_tokens <= 300; ++num_tokens) {
    CheckPartition(num_tokens, 3, 7);
    CheckPartition(num_tokens, 8, 5);
  }
}

TEST(ZigZagPartitionTest, EvenSplitIsTheClassicZigZag) {
  // 16 tokens, 2 ranks, pages of 4: chunks [0,4) [4,8) [8,12) [12,16); rank 0 gets 0 and 3.
  EXPECT_THAT(ZigZagPartition(16, 2, 4),
              ElementsAre(ElementsAre(TokenRange{0, 4}, TokenRange{12, 16}),
                          ElementsAre(TokenRange{4, 12})));
}

TEST(ZigZagPartitionTest, DegreeOneIsOneRange) {
  EXPECT_THAT(ZigZagPartition(37, 1, 16), ElementsAre(ElementsAre(TokenRange{0, 37})));
  EXPECT_THAT(ZigZagPartition(0, 1, 16), ElementsAre(IsEmpty()));
}

TEST(ZigZagPartitionTest, ShortPromptLeavesRanksEmpty) {
  // 2 pages over 4 ranks: ranks 0 and 1 take one page each, in their first chunks.
  EXPECT_THAT(ZigZagPartition(5, 4, 4),
              ElementsAre(ElementsAre(TokenRange{0, 4}), ElementsAre(TokenRange{4, 5}), IsEmpty(),
                          IsEmpty()));
}

TEST(ZigZagPartitionTest, PartialLastPageGoesToARankWithTheMostPages) {
  // 37 tokens, pages of 4 -> 10 pages (the last holds 1 token) over 3 ranks: 4, 3, 3 pages.
  const auto per_rank = ZigZagPartition(37, 3, 4);
  // Chunks (pages): 2, 2, 2 | 1, 1, 2, i.e. [0,8) [8,16) [16,24) [24,28) [28,32) [32,37).
  EXPECT_THAT(per_rank, ElementsAre(ElementsAre(TokenRange{0, 8}, TokenRange{32, 37}),
                                    ElementsAre(TokenRange{8, 16}, TokenRange{28, 32}),
                                    ElementsAre(TokenRange{16, 28})));
  EXPECT_EQ(TokensOf(per_rank[0]), 13);
  EXPECT_EQ(TokensOf(per_rank[1]), 12);
  EXPECT_EQ(TokensOf(per_rank[2]), 12);
}

TEST(ChooseDecodeRankTest, LastPageWithRoomWins) {
  const std::vector<int32_t> pages = {5, 1, 3};
  EXPECT_EQ(ChooseDecodeRank({pages, 0, 3}), 0);
}

TEST(ChooseDecodeRankTest, FullLastPageGoesToTheRankWithFewestPages) {
  const std::vector<int32_t> pages = {2, 1, 1, 3};
  EXPECT_EQ(ChooseDecodeRank({pages, 0, 0}), 1);  // tie between 1 and 2 -> lowest
  EXPECT_EQ(ChooseDecodeRank({pages, -1, 0}), 1);
  const std::vector<int32_t> empty_sequence = {0, 0};
  EXPECT_EQ(ChooseDecodeRank({empty_sequence, -1, 0}), 0);
}

TEST(ChooseDecodeRanksTest, FillsPagesThenBalances) {
  const std::vector<int32_t> pages = {1, 1, 0};
  // Last page on rank 0 with 2 free slots, pages of 3: 2 more on rank 0, then a page on rank 2
  // (fewest), then rank 0 (all have 1 page: lowest), then rank 1 (pages 2, 1, 1).
  EXPECT_THAT(ChooseDecodeRanks({pages, 0, 2}, 3, 10), ElementsAre(0, 0, 2, 2, 2, 0, 0, 0, 1, 1));
  EXPECT_THAT(ChooseDecodeRanks({pages, 0, 2}, 3, 0), IsEmpty());
}

TEST(ChooseDecodeRanksTest, KeepsPagesBalancedWithinOne) {
  std::vector<int32_t> pages = {0, 0, 0, 0};
  const std::vector<int32_t> ranks = ChooseDecodeRanks({pages, -1, 0}, 2, 41);
  std::vector<int32_t> counts(4, 0);
  for (size_t i = 0; i < ranks.size(); i += 2) ++counts[static_cast<size_t>(ranks[i])];
  for (size_t i = 1; i < ranks.size(); i += 2) EXPECT_EQ(ranks[i], ranks[i - 1]);
  const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
  EXPECT_LE(*hi - *lo, 1);
  EXPECT_EQ(ranks[0], 0);
}

}  // namespace
}  // namespace tspserve
