#include "engine/sampling/penalties.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/backend/backend.h"

namespace tspserve {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatEq;
using ::testing::HasSubstr;

TEST(PenaltiesTest, ExactValuesInVllmOrder) {
  std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.5f, -1.0f};
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  const std::vector<int32_t> prompt = {0, 1, 0};
  const std::vector<int32_t> output = {1, 2, 2};
  ASSERT_TRUE(ApplyPenalties(p, prompt, output, logits).ok());
  // 0: 2/2 (prompt only). 1: -2*2 - 0.5*1 - 0.25. 2: 1/2 - 0.5*2 - 0.25. 3, 4: untouched.
  EXPECT_THAT(logits, ElementsAre(FloatEq(1.0f), FloatEq(-4.75f), FloatEq(-0.75f), FloatEq(0.5f),
                                  FloatEq(-1.0f)));
}

TEST(PenaltiesTest, RepetitionAppliesOncePerTokenAndNegativePenaltiesReward) {
  std::vector<float> logits = {3.0f, -3.0f, 0.0f};
  SamplingParams p;
  p.repetition_penalty = 0.5f;  // < 1 favors repeats
  p.presence_penalty = -1.0f;
  const std::vector<int32_t> prompt = {0, 0, 0, 1, 2};
  const std::vector<int32_t> output = {2};
  ASSERT_TRUE(ApplyPenalties(p, prompt, output, logits).ok());
  EXPECT_THAT(logits, ElementsAre(FloatEq(6.0f), FloatEq(-1.5f), FloatEq(1.0f)));
}

TEST(PenaltiesTest, DefaultsChangeNothingAndReadNoIds) {
  std::vector<float> logits = {1.0f, 2.0f};
  const std::vector<int32_t> bad = {5, -1};
  ASSERT_TRUE(ApplyPenalties({}, bad, bad, logits).ok());
  EXPECT_THAT(logits, ElementsAre(1.0f, 2.0f));
}

TEST(PenaltiesTest, OutOfVocabularyIdsAreNamedAndLeaveLogitsAlone) {
  std::vector<float> logits = {1.0f, 2.0f};
  SamplingParams p;
  p.repetition_penalty = 1.5f;
  const std::vector<int32_t> good = {0};
  const std::vector<int32_t> bad = {1, 2};
  absl::Status status = ApplyPenalties(p, bad, good, logits);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("prompt_token_ids[1] = 2"));
  EXPECT_THAT(logits, ElementsAre(1.0f, 2.0f));
  p = {};
  p.frequency_penalty = 0.1f;
  const std::vector<int32_t> negative = {-3};
  status = ApplyPenalties(p, good, negative, logits);
  EXPECT_THAT(std::string(status.message()), HasSubstr("output_token_ids[0] = -3"));
}

std::vector<std::vector<int32_t>> AsTriples(const std::vector<PenaltyEntry>& entries) {
  std::vector<std::vector<int32_t>> triples;
  for (const PenaltyEntry& e : entries) triples.push_back({e.row, e.id, e.count});
  return triples;
}

TEST(PenaltyEntriesTest, OneEntryPerDistinctTokenWithItsOutputCountAndBans) {
  const std::vector<int32_t> prompt = {5, 3, 5, 9}, output = {3, 7, 7}, banned = {11, 9};
  const std::vector<int32_t> distinct_prompt = DistinctSorted(prompt);
  EXPECT_EQ(distinct_prompt, (std::vector<int32_t>{3, 5, 9}));
  SamplingParams repetition;
  repetition.repetition_penalty = 1.2f;
  std::vector<PenaltyEntry> entries;
  AppendPenaltyEntries(repetition, distinct_prompt, output, banned, 4, entries);
  EXPECT_EQ(AsTriples(entries), (std::vector<std::vector<int32_t>>{
                                    {4, 3, 1}, {4, 5, 0}, {4, 7, 2}, {4, 9, kBannedCount}, {4, 11, kBannedCount}}));
  SamplingParams presence;
  presence.presence_penalty = 0.5f;
  entries.clear();
  AppendPenaltyEntries(presence, distinct_prompt, output, {}, 0, entries);  // the prompt does not count
  EXPECT_EQ(AsTriples(entries), (std::vector<std::vector<int32_t>>{{0, 3, 1}, {0, 7, 2}}));
  entries.clear();
  AppendPenaltyEntries(SamplingParams{}, distinct_prompt, output, banned, 1, entries);  // bans alone
  EXPECT_EQ(AsTriples(entries), (std::vector<std::vector<int32_t>>{{1, 9, kBannedCount}, {1, 11, kBannedCount}}));
}

// The entries applied by Backend::PenalizeLogits over vocabulary shards give exactly what
// ApplyPenalties gives over the whole row (bans set to -inf).
TEST(PenaltyEntriesTest, PenalizeLogitsOverShardsEqualsApplyPenalties) {
  std::unique_ptr<Backend> backend = MakeCpuBackend();
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> logit(-4.0f, 4.0f);
  std::uniform_int_distribution<int32_t> token(0, 99);
  constexpr int32_t kVocab = 100, kShards = 3, kShardCols = 34;
  for (int trial = 0; trial < 20; ++trial) {
    SamplingParams p;
    p.repetition_penalty = trial % 3 == 0 ? 1.0f : 0.7f + 0.1f * static_cast<float>(trial % 7);
    p.frequency_penalty = trial % 2 == 0 ? 0.0f : -0.4f + 0.1f * static_cast<float>(trial % 9);
    p.presence_penalty = trial % 5 == 0 ? 0.0f : 0.3f;
    std::vector<int32_t> prompt(30), output(static_cast<size_t>(trial)), banned;
    for (int32_t& id : prompt) id = token(rng);
    for (int32_t& id : output) id = token(rng);
    if (trial % 4 == 1) banned = {token(rng), 99};
    std::vector<float> want(kVocab);
    for (float& x : want) x = logit(rng);
    std::vector<float> got(static_cast<size_t>(kShards * kShardCols), std::nanf(""));  // [shard][col]
    for (int32_t s = 0; s < kShards; ++s) {
      for (int32_t c = 0; c < kShardCols && s * kShardCols + c < kVocab; ++c) got[static_cast<size_t>(s * kShardCols + c)] = want[static_cast<size_t>(s * kShardCols + c)];
    }
    std::vector<PenaltyEntry> entries;
    AppendPenaltyEntries(p, DistinctSorted(prompt), output, banned, 0, entries);
    std::vector<int32_t> flat;
    for (const PenaltyEntry& e : entries) flat.insert(flat.end(), {e.row, e.id, e.count});
    std::vector<float> penalties = {p.repetition_penalty, p.frequency_penalty, p.presence_penalty};
    for (int32_t s = 0; s < kShards; ++s) {
      const int32_t valid = std::min(kShardCols, kVocab - s * kShardCols);
      backend->PenalizeLogits(Tensor(got.data() + s * kShardCols, DType::kF32, {1, kShardCols}), valid, s * kShardCols,
                              Tensor(flat.data(), DType::kI32, {static_cast<int64_t>(entries.size()), 3}),
                              Tensor(penalties.data(), DType::kF32, {1, 3}));
    }
    ASSERT_TRUE(ApplyPenalties(p, prompt, output, want).ok());
    for (int32_t id : banned) want[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
    for (int32_t id = 0; id < kVocab; ++id) {
      EXPECT_EQ(got[static_cast<size_t>(id)], want[static_cast<size_t>(id)]) << "trial " << trial << ", id " << id;
    }
  }
}

}  // namespace
}  // namespace tspserve
