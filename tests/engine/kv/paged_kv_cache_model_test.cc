// Randomized model-based test of PagedKvCache: thousands of random operations, each checked against
// a trivially correct model (per sequence, a map from position to the identity of the token stored
// there) and against a simulated K/V memory that the returned slots and queued copies write into.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "engine/kv/paged_kv_cache.h"

namespace tspserve {
namespace {

using PositionMap = std::map<int32_t, int64_t>;  // position -> token identity

class CacheSimulation {
 public:
  CacheSimulation(int32_t num_blocks, int32_t block_size, uint32_t seed)
      : cache_(num_blocks, block_size),
        block_size_(block_size),
        memory_(static_cast<size_t>(num_blocks) * block_size, -1),
        rng_(seed) {}

  void Step() {
    const int op = Uniform(0, 99);
    if (op < 12 || model_.empty()) {
      AddSequence();
    } else if (op < 62) {
      AppendTokens();
    } else if (op < 72) {
      ForkSequence();
    } else if (op < 87) {
      TruncateSequence();
    } else {
      FreeSequence();
    }
  }

  // Compares every sequence's pages and stored tokens with the model.
  void Verify() {
    ASSERT_TRUE(cache_.CheckIntegrity().ok()) << cache_.CheckIntegrity();
    ASSERT_EQ(cache_.num_sequences(), static_cast<int32_t>(model_.size()));
    for (const auto& [id, positions] : model_) {
      ASSERT_TRUE(cache_.Contains(id));
      ASSERT_EQ(cache_.NumTokens(id), static_cast<int32_t>(positions.size()));
      auto expected = positions.begin();
      for (const Page& page : cache_.Pages(id)) {
        for (int32_t i = 0; i < page.num_tokens; ++i, ++expected) {
          ASSERT_NE(expected, positions.end()) << "sequence " << id;
          ASSERT_EQ(page.first_position + i, expected->first) << "sequence " << id;
          const size_t slot = static_cast<size_t>(page.block) * block_size_ + i;
          ASSERT_EQ(memory_[slot], expected->second)
              << "sequence " << id << " position " << expected->first;
        }
      }
      ASSERT_EQ(expected, positions.end()) << "sequence " << id;
    }
  }

  int appends_ok() const { return appends_ok_; }
  int appends_exhausted() const { return appends_exhausted_; }
  int copies() const { return copies_; }

 private:
  int32_t Uniform(int32_t lo, int32_t hi) {
    return std::uniform_int_distribution<int32_t>(lo, hi)(rng_);
  }
  SeqId RandomLiveId() {
    auto it = model_.begin();
    std::advance(it, Uniform(0, static_cast<int32_t>(model_.size()) - 1));
    return it->first;
  }
  static int32_t EndOf(const PositionMap& positions) {
    return positions.empty() ? 0 : positions.rbegin()->first + 1;
  }

  void AddSequence() {
    if (!model_.empty() && Uniform(0, 9) == 0) {
      EXPECT_EQ(cache_.AddSequence(RandomLiveId()).code(), absl::StatusCode::kAlreadyExists);
      return;
    }
    const SeqId id = next_id_++;
    ASSERT_TRUE(cache_.AddSequence(id).ok());
    model_[id];
  }

  void AppendTokens() {
    const SeqId id = RandomLiveId();
    PositionMap& positions = model_[id];
    const int32_t gap = Uniform(0, 9) < 3 ? Uniform(1, 2 * block_size_) : 0;
    const int32_t first = EndOf(positions) + gap;
    // Half the appends are single decode tokens, the rest prefill-sized.
    const int32_t count = Uniform(0, 1) == 0 ? 1 : Uniform(0, 2 * block_size_ + 1);
    const int32_t needed = cache_.PagesNeeded(id, first, count);
    const int32_t free_before = cache_.num_free_blocks();
    const std::vector<Page> pages_before(cache_.Pages(id).begin(), cache_.Pages(id).end());
    auto slots = cache_.Append(id, first, count);
    if (needed > free_before) {
      ASSERT_EQ(slots.status().code(), absl::StatusCode::kResourceExhausted);
      ASSERT_EQ(cache_.num_free_blocks(), free_before);
      ASSERT_TRUE(std::equal(pages_before.begin(), pages_before.end(), cache_.Pages(id).begin(),
                             cache_.Pages(id).end()));
      ++appends_exhausted_;
      return;
    }
    ASSERT_TRUE(slots.ok()) << slots.status();
    ASSERT_EQ(static_cast<int32_t>(slots->size()), count);
    ASSERT_EQ(cache_.num_free_blocks(), free_before - needed);
    ApplyCopies();
    for (int32_t i = 0; i < count; ++i) {
      const int64_t token = next_token_++;
      memory_[static_cast<size_t>((*slots)[static_cast<size_t>(i)])] = token;
      positions[first + i] = token;
    }
    ++appends_ok_;
  }

  // The backend's part: run the queued copies in order before writing new K/V.
  void ApplyCopies() {
    for (const BlockCopy& copy : cache_.TakePendingCopies()) {
      std::copy_n(memory_.begin() + static_cast<ptrdiff_t>(copy.src_block) * block_size_,
                  block_size_,
                  memory_.begin() + static_cast<ptrdiff_t>(copy.dst_block) * block_size_);
      ++copies_;
    }
  }

  void ForkSequence() {
    const SeqId parent = RandomLiveId();
    const SeqId child = next_id_++;
    ASSERT_TRUE(cache_.Fork(parent, child).ok());
    model_[child] = model_[parent];
  }

  void TruncateSequence() {
    const SeqId id = RandomLiveId();
    PositionMap& positions = model_[id];
    const int32_t kept = Uniform(0, EndOf(positions) + 2);
    ASSERT_TRUE(cache_.Truncate(id, kept).ok());
    positions.erase(positions.lower_bound(kept), positions.end());
  }

  void FreeSequence() {
    if (Uniform(0, 9) == 0) {
      cache_.Free(next_id_ + 1000);  // unknown: no-op
      return;
    }
    const SeqId id = RandomLiveId();
    cache_.Free(id);
    model_.erase(id);
  }

  PagedKvCache cache_;
  int32_t block_size_;
  std::vector<int64_t> memory_;  // [num_blocks * block_size] token identity per slot
  std::map<SeqId, PositionMap> model_;
  std::mt19937 rng_;
  SeqId next_id_ = 0;
  int64_t next_token_ = 0;
  int appends_ok_ = 0;
  int appends_exhausted_ = 0;
  int copies_ = 0;
};

struct SimConfig {
  int32_t num_blocks;
  int32_t block_size;
};

class PagedKvCacheModelTest : public ::testing::TestWithParam<SimConfig> {};

TEST_P(PagedKvCacheModelTest, RandomOperationsMatchTheModel) {
  const SimConfig config = GetParam();
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    CacheSimulation sim(config.num_blocks, config.block_size, seed);
    for (int step = 0; step < 4000; ++step) {
      sim.Step();
      ASSERT_NO_FATAL_FAILURE(sim.Verify()) << "seed " << seed << " step " << step;
    }
    // The run must have exercised the interesting paths, or it proves little.
    EXPECT_GT(sim.appends_ok(), 100);
    if (config.block_size > 1) {  // one-token pages are never shared while partly full
      EXPECT_GT(sim.copies(), 5);
    }
    if (config.num_blocks < 40) {
      EXPECT_GT(sim.appends_exhausted(), 10);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, PagedKvCacheModelTest,
                         ::testing::Values(SimConfig{24, 1}, SimConfig{17, 3}, SimConfig{32, 4},
                                           SimConfig{64, 16}, SimConfig{200, 5}));

}  // namespace
}  // namespace tspserve
