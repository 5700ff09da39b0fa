#include "models/tokenizer/incremental_decoder.h"

#include <random>

#include <gtest/gtest.h>

#include "models/tokenizer/bpe_trainer.h"

namespace tspserve {
namespace {

std::unique_ptr<Tokenizer> Trained(TokenizerStyle style) {
  BpeTrainerOptions options;
  options.style = style;
  options.vocab_size = 900;
  options.special_tokens = {"<unk>", "<s>", "</s>"};
  options.bos_token = "<s>";
  auto json = TrainBpeTokenizerJson(options);
  EXPECT_TRUE(json.ok()) << json.status();
  auto tokenizer = Tokenizer::FromJson(*json, "trained");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return std::move(tokenizer).value();
}

class IncrementalDecoderTest : public ::testing::TestWithParam<TokenizerStyle> {};

TEST_P(IncrementalDecoderTest, MultiTokenCharactersAreReleasedWhole) {
  auto tokenizer = Trained(GetParam());
  // "ꙮ" is unseen in the corpus: it is spelled with several byte tokens.
  const auto ids = tokenizer->Encode("xꙮy", false);
  ASSERT_GE(ids.size(), 4u);
  IncrementalDecoder decoder(*tokenizer, true);
  std::vector<std::string> pieces;
  for (int32_t id : ids) pieces.push_back(decoder.Append(id));
  pieces.push_back(decoder.Flush());
  std::string joined;
  for (const std::string& piece : pieces) {
    EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos);
    joined += piece;
  }
  EXPECT_EQ(joined, *tokenizer->Decode(ids, true));
  EXPECT_EQ(joined.substr(joined.size() - 4), "ꙮy");
}

TEST_P(IncrementalDecoderTest, DanglingBytesFlushAsReplacement) {
  auto tokenizer = Trained(GetParam());
  auto ids = tokenizer->Encode("ꙮ", false);
  ids.pop_back();  // cut the character short
  IncrementalDecoder decoder(*tokenizer, false);
  std::string streamed;
  for (int32_t id : ids) streamed += decoder.Append(id);
  EXPECT_EQ(streamed.find("\xEF\xBF\xBD"), std::string::npos) << "held until flush";
  streamed += decoder.Flush();
  EXPECT_EQ(streamed, *tokenizer->Decode(ids, false));
  EXPECT_NE(streamed.find("\xEF\xBF\xBD"), std::string::npos);
}

TEST_P(IncrementalDecoderTest, TextIsReleasedPromptly) {
  auto tokenizer = Trained(GetParam());
  const auto ids = tokenizer->Encode("the keeper counted the ships", true);
  IncrementalDecoder decoder(*tokenizer, true);
  std::string streamed;
  for (size_t i = 0; i + 1 < ids.size(); ++i) streamed += decoder.Append(ids[i]);
  std::string last = decoder.Append(ids.back());
  EXPECT_FALSE(last.empty()) << "plain text must not wait for Flush";
  streamed += last;
  EXPECT_EQ(decoder.Flush(), "");
  EXPECT_EQ(streamed, "the keeper counted the ships");
}

TEST_P(IncrementalDecoderTest, InvalidIdsAreIgnoredAndFlushRestarts) {
  auto tokenizer = Trained(GetParam());
  IncrementalDecoder decoder(*tokenizer, false);
  EXPECT_EQ(decoder.Append(-5), "");
  EXPECT_EQ(decoder.Append(tokenizer->vocab_size()), "");
  EXPECT_EQ(decoder.Flush(), "");
  const auto ids = tokenizer->Encode(" hi", false);
  std::string streamed;
  for (int32_t id : ids) streamed += decoder.Append(id);
  streamed += decoder.Flush();
  EXPECT_EQ(streamed, *tokenizer->Decode(ids, false));
}

TEST_P(IncrementalDecoderTest, RandomByteTokenSoupMatchesDecode) {
  auto tokenizer = Trained(GetParam());
  // Only the lowest ids: byte symbols / <0xNN> tokens, so most sequences are ill-formed UTF-8.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> byte_id(0, 300);
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<int32_t> ids(trial % 17);
    for (int32_t& id : ids) id = byte_id(rng);
    IncrementalDecoder decoder(*tokenizer, trial % 2 == 0);
    std::string streamed;
    for (int32_t id : ids) streamed += decoder.Append(id);
    streamed += decoder.Flush();
    ASSERT_EQ(streamed, *tokenizer->Decode(ids, trial % 2 == 0)) << "trial " << trial;
  }
}

INSTANTIATE_TEST_SUITE_P(Styles, IncrementalDecoderTest,
                         ::testing::Values(TokenizerStyle::kByteLevel, TokenizerStyle::kMetaspace));

}  // namespace
}  // namespace tspserve
