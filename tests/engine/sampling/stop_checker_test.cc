#include "engine/sampling/stop_checker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

namespace tspserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

StoppingCriteria WithStops(std::vector<std::string> stop, int32_t max_tokens = 100) {
  StoppingCriteria criteria;
  criteria.max_tokens = max_tokens;
  criteria.stop = std::move(stop);
  return criteria;
}

// Feeds pieces as tokens 1, 2, 3, ... and returns the text streamed by each Append.
std::vector<std::string> Feed(StopChecker& checker, const std::vector<std::string>& pieces) {
  std::vector<std::string> streamed;
  int32_t token = 1000;
  for (const std::string& piece : pieces) {
    if (checker.finished()) break;
    streamed.push_back(checker.Append(token++, piece).text);
  }
  return streamed;
}

TEST(StopCheckerTest, StopStringSplitAcrossTokens) {
  StopChecker checker(WithStops({"###"}));
  EXPECT_THAT(Feed(checker, {"a#", "#", "#b", "never"}), ElementsAre("a", "", ""));
  EXPECT_EQ(checker.finish_reason(), FinishReason::kStop);
  EXPECT_EQ(std::get<std::string>(checker.matched_stop()), "###");
  EXPECT_EQ(checker.num_tokens(), 3);
  EXPECT_EQ(checker.Flush(), "");
}

TEST(StopCheckerTest, HeldBackTextIsReleasedWhenItCannotBeAStop) {
  StopChecker checker(WithStops({"###"}));
  EXPECT_THAT(Feed(checker, {"a#", "#", "x"}), ElementsAre("a", "", "##x"));
  EXPECT_FALSE(checker.finished());
}

TEST(StopCheckerTest, FlushReleasesHeldBackText) {
  StopChecker checker(WithStops({"END"}));
  EXPECT_THAT(Feed(checker, {"the E", "N"}), ElementsAre("the ", ""));
  EXPECT_EQ(checker.Flush(), "EN");
  EXPECT_EQ(checker.Flush(), "");
  EXPECT_FALSE(checker.finished());
}

TEST(StopCheckerTest, SelfOverlappingStopKeepsTheRightTail) {
  // "aab" in "aaab": the held "aa" must slide by one character, not be dropped.
  StopChecker checker(WithStops({"aab"}));
  EXPECT_THAT(Feed(checker, {"a", "a", "a", "b"}), ElementsAre("", "", "a", ""));
  EXPECT_EQ(checker.finish_reason(), FinishReason::kStop);
}

TEST(StopCheckerTest, OverlappingStopsTheOneEndingFirstWins) {
  StopChecker first(WithStops({"xyz", "y"}));
  EXPECT_THAT(Feed(first, {"wxyz"}), ElementsAre("wx"));
  EXPECT_EQ(std::get<std::string>(first.matched_stop()), "y");
  StopChecker longer(WithStops({"bc", "abc"}));
  EXPECT_THAT(Feed(longer, {"zabcd"}), ElementsAre("z"));
  EXPECT_EQ(std::get<std::string>(longer.matched_stop()), "abc");
}

TEST(StopCheckerTest, IncludeStopInOutput) {
  StoppingCriteria criteria = WithStops({"###"});
  criteria.include_stop_in_output = true;
  StopChecker checker(criteria);
  EXPECT_THAT(Feed(checker, {"hello #", "##world"}), ElementsAre("hello ", "###"));
  criteria.stop_token_ids = {5};
  StopChecker by_id(criteria);
  EXPECT_EQ(by_id.Append(5, "</s>").text, "</s>");
  EXPECT_EQ(std::get<int32_t>(by_id.matched_stop()), 5);
}

TEST(StopCheckerTest, StopAtTheVeryFirstToken) {
  StoppingCriteria criteria = WithStops({"stop"});
  criteria.eos_token_ids = {2};
  StopChecker eos(criteria);
  const StopUpdate update = eos.Append(2, "<eos>");
  EXPECT_EQ(update.text, "");
  EXPECT_EQ(update.finish_reason, FinishReason::kStop);
  EXPECT_EQ(std::get<int32_t>(eos.matched_stop()), 2);
  StopChecker text(criteria);
  EXPECT_THAT(Feed(text, {"stop"}), ElementsAre(""));
  EXPECT_EQ(text.finish_reason(), FinishReason::kStop);
}

TEST(StopCheckerTest, StopTokenReleasesHeldTextButDropsItsOwn) {
  StoppingCriteria criteria = WithStops({"###"});
  criteria.stop_token_ids = {9};
  StopChecker checker(criteria);
  EXPECT_EQ(checker.Append(1, "ok#").text, "ok");
  const StopUpdate update = checker.Append(9, "<|im_end|>");
  EXPECT_EQ(update.text, "#");
  EXPECT_EQ(update.finish_reason, FinishReason::kStop);
}

TEST(StopCheckerTest, IgnoreEosKeepsGoingButStopIdsStillApply) {
  StoppingCriteria criteria;
  criteria.eos_token_ids = {2};
  criteria.stop_token_ids = {3};
  criteria.ignore_eos = true;
  StopChecker checker(criteria);
  EXPECT_EQ(checker.Append(2, "<eos>").text, "<eos>");
  EXPECT_FALSE(checker.finished());
  EXPECT_EQ(checker.Append(3, "x").finish_reason, FinishReason::kStop);
}

TEST(StopCheckerTest, MinTokensSuppressesEveryStop) {
  StoppingCriteria criteria = WithStops({"b"});
  criteria.min_tokens = 3;
  criteria.eos_token_ids = {2};
  criteria.stop_token_ids = {4};
  StopChecker checker(criteria);
  EXPECT_THAT(checker.SuppressedTokenIds(), ElementsAre(4, 2));
  EXPECT_EQ(checker.Append(2, "e").text, "e");    // EOS before min_tokens is ordinary text
  EXPECT_EQ(checker.Append(7, "ab").text, "ab");  // so is a stop string
  EXPECT_THAT(checker.SuppressedTokenIds(), ElementsAre(4, 2));
  EXPECT_FALSE(checker.finished());
  const StopUpdate update = checker.Append(4, "z");
  EXPECT_EQ(update.finish_reason, FinishReason::kStop);
  EXPECT_THAT(checker.SuppressedTokenIds(), ElementsAre());
}

TEST(StopCheckerTest, MinTokensReachedEnablesStopStrings) {
  StoppingCriteria criteria = WithStops({"xy"});
  criteria.min_tokens = 2;
  StopChecker checker(criteria);
  EXPECT_EQ(checker.Append(1, "ax").text, "a");  // "x" may still start a stop
  EXPECT_EQ(checker.Append(1, "y!").text, "");
  EXPECT_EQ(checker.finish_reason(), FinishReason::kStop);
}

TEST(StopCheckerTest, MaxTokensFinishesWithLengthAndReleasesEverything) {
  StopChecker checker(WithStops({"###"}, 2));
  EXPECT_EQ(checker.Append(1, "a").text, "a");
  const StopUpdate update = checker.Append(1, "b#");
  EXPECT_EQ(update.text, "b#");
  EXPECT_EQ(update.finish_reason, FinishReason::kLength);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(checker.matched_stop()));
}

TEST(StopCheckerTest, StopOnTheLastAllowedTokenIsStopNotLength) {
  StoppingCriteria criteria = WithStops({"!"}, 1);
  criteria.eos_token_ids = {2};
  StopChecker by_string(criteria);
  EXPECT_EQ(by_string.Append(1, "hi!").finish_reason, FinishReason::kStop);
  StopChecker by_eos(criteria);
  EXPECT_EQ(by_eos.Append(2, "").finish_reason, FinishReason::kStop);
}

TEST(StopCheckerTest, MultiByteStopsHoldWholeCharacters) {
  StopChecker checker(WithStops({"日本"}));
  EXPECT_EQ(checker.Append(1, "a日").text, "a");
  EXPECT_EQ(checker.Append(1, "x").text, "日x");
  EXPECT_EQ(checker.Append(1, "caf日").text, "caf");
  EXPECT_EQ(checker.Append(1, "本語").text, "");
  EXPECT_EQ(checker.finish_reason(), FinishReason::kStop);
}

TEST(StopCheckerTest, EmptyPiecesAreFine) {
  StopChecker checker(WithStops({"ab"}, 4));
  EXPECT_THAT(Feed(checker, {"", "a", "", "b"}), ElementsAre("", "", "", ""));
  EXPECT_EQ(checker.finish_reason(), FinishReason::kStop);
}

// Reference: cut the whole text before the stop that ends first (then the longest).
std::string ReferenceCut(const std::string& text, const std::vector<std::string>& stops) {
  size_t best_end = std::string::npos;
  size_t best_begin = std::string::npos;
  for (const std::string& stop : stops) {
    const size_t begin = text.find(stop);
    if (begin == std::string::npos) continue;
    const size_t end = begin + stop.size();
    if (end < best_end || (end == best_end && begin < best_begin)) {
      best_end = end;
      best_begin = begin;
    }
  }
  return best_begin == std::string::npos ? text : text.substr(0, best_begin);
}

TEST(StopCheckerTest, RandomSplitsMatchCuttingTheWholeText) {
  std::mt19937 rng(17);
  const std::vector<std::string> stops = {"aba", "bb", "abaa"};
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    const size_t length = rng() % 24;
    for (size_t i = 0; i < length; ++i) text += "ab"[rng() % 2];
    std::vector<std::string> pieces;
    for (size_t pos = 0; pos < text.size();) {
      const size_t n = std::min(text.size() - pos, static_cast<size_t>(rng() % 4));
      pieces.push_back(text.substr(pos, n));
      pos += n;
    }
    StopChecker checker(WithStops(stops, 1000));
    std::string streamed;
    for (const std::string& piece : Feed(checker, pieces)) streamed += piece;
    if (!checker.finished()) streamed += checker.Flush();
    const std::string expected = ReferenceCut(text, stops);
    ASSERT_EQ(streamed, expected) << "text " << text;
    ASSERT_EQ(checker.finished(), expected.size() != text.size()) << "text " << text;
  }
}

TEST(StopCheckerTest, Validation) {
  StoppingCriteria criteria;
  EXPECT_TRUE(ValidateStoppingCriteria(criteria).ok());
  criteria.max_tokens = 0;
  EXPECT_THAT(std::string(ValidateStoppingCriteria(criteria).message()), HasSubstr("max_tokens"));
  criteria.max_tokens = 4;
  criteria.min_tokens = 5;
  EXPECT_THAT(std::string(ValidateStoppingCriteria(criteria).message()), HasSubstr("min_tokens"));
  criteria.min_tokens = -1;
  EXPECT_THAT(std::string(ValidateStoppingCriteria(criteria).message()), HasSubstr("min_tokens"));
  criteria.min_tokens = 4;
  criteria.stop = {"ok", ""};
  EXPECT_THAT(std::string(ValidateStoppingCriteria(criteria).message()), HasSubstr("stop[1]"));
  EXPECT_EQ(StopChecker::Create(criteria).status().code(), absl::StatusCode::kInvalidArgument);
  criteria.stop = {"ok"};
  EXPECT_TRUE(StopChecker::Create(criteria).ok());
}

TEST(StopCheckerTest, FlushChecksTheDetokenizersTail) {
  StopChecker cut(WithStops({"END"}));
  EXPECT_EQ(cut.Append(1, "done E").text, "done ");
  EXPECT_EQ(cut.Flush("ND and more"), "");
  EXPECT_EQ(cut.finish_reason(), FinishReason::kStop);
  EXPECT_EQ(std::get<std::string>(cut.matched_stop()), "END");
  StopChecker plain(WithStops({"END"}));
  EXPECT_EQ(plain.Append(1, "E").text, "");
  EXPECT_EQ(plain.Flush("n"), "En");
  EXPECT_FALSE(plain.finished());
  // After a stop-token finish the tail is plain text.
  StoppingCriteria criteria = WithStops({"END"});
  criteria.stop_token_ids = {3};
  StopChecker stopped(criteria);
  stopped.Append(3, "");
  EXPECT_EQ(stopped.Flush("END"), "END");
  EXPECT_EQ(std::get<int32_t>(stopped.matched_stop()), 3);
}

TEST(StopCheckerDeathTest, AppendAfterFinishIsABrokenInvariant) {
  StopChecker checker(WithStops({}, 1));
  checker.Append(1, "x");
  EXPECT_DEATH(checker.Append(1, "y"), "finished");
}

}  // namespace
}  // namespace tspserve
