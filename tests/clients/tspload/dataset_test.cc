#include "clients/tspload/dataset.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tspserve::tspload {
namespace {

using testing::HasSubstr;

TokenIdRange Ids(int32_t low, int32_t high, std::vector<int32_t> excluded = {}) {
  TokenIdRange ids;
  ids.low = low;
  ids.high = high;
  ids.excluded = std::move(excluded);
  return ids;
}

RandomDatasetOptions Options(int n, int input_len, int output_len, double ratio, int prefix_len = 0) {
  RandomDatasetOptions o;
  o.num_prompts = n;
  o.input_len = input_len;
  o.output_len = output_len;
  o.range_ratio = ratio;
  o.prefix_len = prefix_len;
  o.seed = 3;
  return o;
}

TEST(RangeAroundTest, FloorsLikeVllmAndStaysPositive) {
  EXPECT_EQ(RangeAround(100, 0.25).low, 75);
  EXPECT_EQ(RangeAround(100, 0.25).high, 125);
  EXPECT_EQ(RangeAround(37, 0.3).low, 25);   // floor(25.9)
  EXPECT_EQ(RangeAround(37, 0.3).high, 48);  // floor(48.1)
  EXPECT_EQ(RangeAround(10, 0).low, 10);
  EXPECT_EQ(RangeAround(10, 0).high, 10);
  EXPECT_EQ(RangeAround(1, 0.9).low, 1);
  EXPECT_EQ(RangeAround(1, 0.9).high, 1);
}

TEST(SafeTokenIdsTest, KeepsAwayFromBothEndsOfTheVocabulary) {
  absl::StatusOr<TokenIdRange> llama = SafeTokenIds(32000, {2});
  ASSERT_TRUE(llama.ok());
  EXPECT_EQ(llama->low, 100);
  EXPECT_EQ(llama->high, 28800);
  EXPECT_EQ(llama->excluded, std::vector<int32_t>{2});
  absl::StatusOr<TokenIdRange> tiny = SafeTokenIds(50, {});
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(tiny->low, 5);
  EXPECT_EQ(tiny->high, 45);
  EXPECT_FALSE(SafeTokenIds(3, {}).ok());
  EXPECT_FALSE(SafeTokenIds(0, {}).ok());
}

TEST(RandomDatasetTest, LengthsCoverTheRangeAndIdsAvoidExclusions) {
  const std::vector<int32_t> excluded = {10, 11, 12};
  absl::StatusOr<std::vector<Prompt>> prompts = MakeRandomDataset(Options(2000, 37, 13, 0.3), Ids(9, 17, excluded));
  ASSERT_TRUE(prompts.ok()) << prompts.status();
  ASSERT_EQ(prompts->size(), 2000u);
  int min_in = 1 << 30, max_in = 0, min_out = 1 << 30, max_out = 0;
  for (const Prompt& p : *prompts) {
    ASSERT_EQ(p.prompt_len, static_cast<int>(p.token_ids.size()));
    EXPECT_TRUE(p.text.empty());
    min_in = std::min(min_in, p.prompt_len);
    max_in = std::max(max_in, p.prompt_len);
    min_out = std::min(min_out, p.max_tokens);
    max_out = std::max(max_out, p.max_tokens);
    for (int32_t id : p.token_ids) {
      ASSERT_GE(id, 9);
      ASSERT_LT(id, 17);
      ASSERT_EQ(std::count(excluded.begin(), excluded.end(), id), 0) << id;
    }
  }
  EXPECT_EQ(min_in, 25);
  EXPECT_EQ(max_in, 48);
  EXPECT_EQ(min_out, 9);   // floor(13 * 0.7)
  EXPECT_EQ(max_out, 16);  // floor(13 * 1.3)
}

TEST(RandomDatasetTest, ZeroRatioGivesExactLengths) {
  absl::StatusOr<std::vector<Prompt>> prompts = MakeRandomDataset(Options(7, 16, 8, 0), Ids(100, 900));
  ASSERT_TRUE(prompts.ok());
  for (const Prompt& p : *prompts) {
    EXPECT_EQ(p.prompt_len, 16);
    EXPECT_EQ(p.max_tokens, 8);
  }
}

TEST(RandomDatasetTest, SameSeedSamePrompts) {
  auto a = MakeRandomDataset(Options(5, 20, 4, 0.5), Ids(100, 900));
  auto b = MakeRandomDataset(Options(5, 20, 4, 0.5), Ids(100, 900));
  RandomDatasetOptions other = Options(5, 20, 4, 0.5);
  other.seed = 4;
  auto c = MakeRandomDataset(other, Ids(100, 900));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  for (size_t i = 0; i < a->size(); ++i) EXPECT_EQ((*a)[i].token_ids, (*b)[i].token_ids);
  EXPECT_NE((*a)[0].token_ids, (*c)[0].token_ids);
}

TEST(RandomDatasetTest, SharedPrefixStartsEveryPrompt) {
  absl::StatusOr<std::vector<Prompt>> prompts = MakeRandomDataset(Options(9, 11, 3, 0.2, 33), Ids(100, 30000));
  ASSERT_TRUE(prompts.ok());
  const std::vector<int32_t> prefix((*prompts)[0].token_ids.begin(), (*prompts)[0].token_ids.begin() + 33);
  for (const Prompt& p : *prompts) {
    ASSERT_GE(p.prompt_len, 33 + 8);
    ASSERT_LE(p.prompt_len, 33 + 13);
    EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), p.token_ids.begin()));
  }
  // Only the prefix is shared: the suffixes differ.
  EXPECT_NE(std::vector<int32_t>((*prompts)[0].token_ids.begin() + 33, (*prompts)[0].token_ids.end()),
            std::vector<int32_t>((*prompts)[1].token_ids.begin() + 33, (*prompts)[1].token_ids.end()));
}

TEST(RandomDatasetTest, BadOptionsAreErrorsNamingTheFlag) {
  EXPECT_THAT(MakeRandomDataset(Options(3, 0, 4, 0), Ids(1, 9)).status().message(), HasSubstr("--input-len"));
  EXPECT_THAT(MakeRandomDataset(Options(3, 4, 0, 0), Ids(1, 9)).status().message(), HasSubstr("--output-len"));
  EXPECT_THAT(MakeRandomDataset(Options(3, 4, 4, 1.0), Ids(1, 9)).status().message(), HasSubstr("--range-ratio"));
  EXPECT_THAT(MakeRandomDataset(Options(0, 4, 4, 0), Ids(1, 9)).status().message(), HasSubstr("--num-requests"));
  EXPECT_FALSE(MakeRandomDataset(Options(3, 4, 4, 0), Ids(5, 5)).ok());
  EXPECT_FALSE(MakeRandomDataset(Options(3, 4, 4, 0), Ids(5, 7, {5, 6})).ok());
  // One usable id left is enough.
  auto one = MakeRandomDataset(Options(2, 4, 4, 0), Ids(5, 8, {5, 7}));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)[0].token_ids, std::vector<int32_t>(4, 6));
}

class JsonlDatasetTest : public testing::Test {
 protected:
  std::string Write(const std::string& content) {
    const std::string path = (std::filesystem::path(testing::TempDir()) / "tspload_prompts.jsonl").string();
    std::ofstream(path) << content;
    return path;
  }
};

TEST_F(JsonlDatasetTest, ReadsPromptsAndCycles) {
  const std::string path = Write("{\"prompt\": \"hello\", \"max_tokens\": 5}\n\n  \n{\"prompt\": \"héllo wörld\"}\r\n");
  absl::StatusOr<std::vector<Prompt>> prompts = LoadJsonlDataset(path, 5, 9);
  ASSERT_TRUE(prompts.ok()) << prompts.status();
  ASSERT_EQ(prompts->size(), 5u);
  EXPECT_EQ((*prompts)[0].text, "hello");
  EXPECT_EQ((*prompts)[0].max_tokens, 5);
  EXPECT_EQ((*prompts)[1].text, "héllo wörld");
  EXPECT_EQ((*prompts)[1].max_tokens, 9);  // the --output-len default
  EXPECT_EQ((*prompts)[4].text, "hello");
  EXPECT_TRUE((*prompts)[0].token_ids.empty());
  EXPECT_EQ((*prompts)[0].prompt_len, 0);
}

TEST_F(JsonlDatasetTest, BadLinesNameFileLineAndField) {
  struct Case {
    std::string content;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"{\"prompt\": \"a\"}\n\n{\"prompt\": \"b\"\n", ":3: not JSON"},
           {"{\"text\": \"a\"}\n", ":1: \"prompt\""},
           {"{\"prompt\": \"\"}\n", ":1: \"prompt\""},
           {"{\"prompt\": 7}\n", ":1: \"prompt\""},
           {"[\"prompt\"]\n", ":1: not a JSON object"},
           {"{\"prompt\": \"a\", \"max_tokens\": 0}\n", ":1: \"max_tokens\""},
           {"{\"prompt\": \"a\", \"max_tokens\": \"5\"}\n", ":1: \"max_tokens\""},
           {"{\"prompt\": \"a\", \"max_tokens\": 2.5}\n", ":1: \"max_tokens\""},
           {"\n\n", "no prompts"},
       }) {
    const std::string path = Write(c.content);
    absl::StatusOr<std::vector<Prompt>> prompts = LoadJsonlDataset(path, 2, 4);
    ASSERT_FALSE(prompts.ok()) << c.content;
    EXPECT_THAT(std::string(prompts.status().message()), HasSubstr(path)) << c.content;
    EXPECT_THAT(std::string(prompts.status().message()), HasSubstr(c.expected)) << c.content;
  }
}

TEST_F(JsonlDatasetTest, MissingFileIsNotFound) {
  absl::StatusOr<std::vector<Prompt>> prompts = LoadJsonlDataset("/nonexistent/p.jsonl", 2, 4);
  EXPECT_EQ(prompts.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(prompts.status().message()), HasSubstr("/nonexistent/p.jsonl"));
}

}  // namespace
}  // namespace tspserve::tspload
