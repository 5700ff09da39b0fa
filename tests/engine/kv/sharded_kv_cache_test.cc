// ShardedKvCache: zig-zag prompts and balanced decode pages across ranks, replicated pages for TP,
// and all-or-nothing reservations.
#include "engine/kv/sharded_kv_cache.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

namespace tspserve {
namespace {

std::vector<int32_t> PagesPerRank(const ShardedKvCache& kv, SeqId id) {
  std::vector<int32_t> pages;
  for (int32_t r = 0; r < kv.degree(); ++r) {
    pages.push_back(kv.rank(r).Contains(id) ? static_cast<int32_t>(kv.rank(r).Pages(id).size()) : 0);
  }
  return pages;
}

TEST(ShardedKvCacheTest, DecodePagesStayBalancedWithinOnePage) {
  for (int32_t degree = 1; degree <= 4; ++degree) {
    for (int32_t prompt : {1, 7, 37, 200}) {
      ShardedKvCache kv(degree, 128, 4, KvPlacement::kSequenceSharded);
      ASSERT_TRUE(kv.Append(1, 0, prompt).ok());
      for (int32_t p = prompt; p < prompt + 77; ++p) {
        const std::vector<int32_t> needed = kv.PagesNeeded(1, p, 1);
        const int32_t before = kv.num_used_blocks();
        ASSERT_TRUE(kv.Append(1, p, 1).ok());
        int32_t sum = 0;
        for (int32_t x : needed) sum += x;
        EXPECT_EQ(kv.num_used_blocks() - before, sum) << "PagesNeeded predicts the allocation";
        const auto pages = PagesPerRank(kv, 1);
        EXPECT_LE(*std::max_element(pages.begin(), pages.end()) - *std::min_element(pages.begin(), pages.end()), 1)
            << "degree " << degree << " prompt " << prompt << " position " << p;
      }
      int32_t tokens = 0;
      for (int32_t r = 0; r < degree; ++r) tokens += kv.rank(r).NumTokens(1);
      EXPECT_EQ(tokens, prompt + 77);
      EXPECT_TRUE(kv.CheckIntegrity().ok());
      kv.Free(1);
      EXPECT_EQ(kv.num_used_blocks(), 0);
    }
  }
}

TEST(ShardedKvCacheTest, PromptSlotsAreZigZagAndUnique) {
  ShardedKvCache kv(3, 32, 4, KvPlacement::kSequenceSharded);
  const auto slots = kv.Append(9, 0, 37);
  ASSERT_TRUE(slots.ok());
  std::set<std::pair<int32_t, int64_t>> seen;
  for (const TokenSlot& s : *slots) {
    EXPECT_TRUE(seen.insert({s.rank, s.slot}).second) << "slot reused";
  }
  const std::vector<int32_t> ranks = kv.RanksFor(10, 0, 37);  // a fresh sequence splits the same way
  for (size_t i = 0; i < ranks.size(); ++i) EXPECT_EQ(ranks[i], (*slots)[i].rank);
  EXPECT_EQ((*slots)[0].rank, 0);
  EXPECT_EQ((*slots)[36].rank, 0) << "rank 0 takes the first and the last chunk";
}

TEST(ShardedKvCacheTest, ReplicatedPlacementHoldsEveryTokenOnEveryRank) {
  ShardedKvCache kv(4, 16, 4, KvPlacement::kReplicated);
  ASSERT_TRUE(kv.Append(1, 0, 10).ok());
  ASSERT_TRUE(kv.Append(1, 10, 1).ok());
  for (int32_t r = 0; r < 4; ++r) EXPECT_EQ(kv.rank(r).NumTokens(1), 11);
  EXPECT_EQ(kv.capacity_tokens(), 64);
}

TEST(ShardedKvCacheTest, ExhaustionChangesNothing) {
  ShardedKvCache kv(2, 2, 4, KvPlacement::kSequenceSharded);
  ASSERT_TRUE(kv.Append(1, 0, 12).ok());
  const int32_t used = kv.num_used_blocks();
  EXPECT_EQ(kv.Append(2, 0, 9).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(kv.num_used_blocks(), used);
  EXPECT_FALSE(kv.rank(0).Contains(2) && kv.rank(0).NumTokens(2) > 0);
  EXPECT_TRUE(kv.CheckIntegrity().ok());
}

}  // namespace
}  // namespace tspserve
