#include "engine/sampling/penalties.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

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

}  // namespace
}  // namespace tspserve
