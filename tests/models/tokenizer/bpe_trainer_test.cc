#include "models/tokenizer/bpe_trainer.h"

#include <chrono>

#include <gtest/gtest.h>

#include "models/tokenizer/tokenizer.h"

namespace tspserve {
namespace {

BpeTrainerOptions Options(TokenizerStyle style, int32_t vocab_size) {
  BpeTrainerOptions options;
  options.style = style;
  options.vocab_size = vocab_size;
  options.special_tokens = {"<unk>", "<s>", "</s>"};
  options.bos_token = "<s>";
  return options;
}

std::unique_ptr<Tokenizer> Load(const BpeTrainerOptions& options) {
  auto json = TrainBpeTokenizerJson(options);
  EXPECT_TRUE(json.ok()) << json.status();
  if (!json.ok()) return nullptr;
  auto tokenizer = Tokenizer::FromJson(*json, "trained");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(tokenizer).value() : nullptr;
}

class TrainerStyleTest : public ::testing::TestWithParam<TokenizerStyle> {};

TEST_P(TrainerStyleTest, ExactVocabSizeAndSpecialsAtTheEnd) {
  for (int32_t vocab_size : {512, 777, 2048, 4096}) {
    auto tokenizer = Load(Options(GetParam(), vocab_size));
    ASSERT_NE(tokenizer, nullptr);
    EXPECT_EQ(tokenizer->vocab_size(), vocab_size);
    EXPECT_EQ(tokenizer->TokenToId("<unk>"), vocab_size - 3);
    EXPECT_EQ(tokenizer->TokenToId("</s>"), vocab_size - 1);
    EXPECT_TRUE(tokenizer->IsSpecial(vocab_size - 2));
    EXPECT_FALSE(tokenizer->IsSpecial(5));
  }
}

TEST_P(TrainerStyleTest, EncodesWithBosAndRoundTrips) {
  auto tokenizer = Load(Options(GetParam(), 1024));
  ASSERT_NE(tokenizer, nullptr);
  const std::string text = "The lighthouse keeper, 42 Brötchen and 雨 🙂\n\tdone";
  const auto ids = tokenizer->Encode(text, true);
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], *tokenizer->TokenToId("<s>"));
  EXPECT_LT(ids.size(), 36u) << "merges should compress known words";
  EXPECT_EQ(*tokenizer->Decode(ids, true), text);
  // Unseen characters fall back to bytes (byte level or <0xNN>), never to <unk>.
  const auto unseen = tokenizer->Encode("ꙮ𓀀", false);
  for (int32_t id : unseen) EXPECT_NE(id, *tokenizer->TokenToId("<unk>"));
  EXPECT_EQ(*tokenizer->Decode(unseen, false), "ꙮ𓀀");
}

TEST_P(TrainerStyleTest, DeterministicAndFast) {
  const auto start = std::chrono::steady_clock::now();
  auto first = TrainBpeTokenizerJson(Options(GetParam(), 4096));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_LT(seconds, 1.0);
  auto second = TrainBpeTokenizerJson(Options(GetParam(), 4096));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);
}

TEST_P(TrainerStyleTest, CustomCorpusAndNoBos) {
  BpeTrainerOptions options = Options(GetParam(), 0);
  options.bos_token.reset();
  options.special_tokens = {"<|eot|>"};
  options.corpus = "aaaa bbbb aaaa bbbb abab abab\n";
  options.vocab_size = GetParam() == TokenizerStyle::kByteLevel ? 260 : 265;
  auto tokenizer = Load(options);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->vocab_size(), options.vocab_size);
  const auto ids = tokenizer->Encode("aaaa<|eot|>", true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.back(), options.vocab_size - 1);  // no BOS added; special matched inside text
  EXPECT_NE(ids.front(), options.vocab_size - 1);
}

INSTANTIATE_TEST_SUITE_P(Styles, TrainerStyleTest,
                         ::testing::Values(TokenizerStyle::kByteLevel, TokenizerStyle::kMetaspace));

TEST(TrainerErrorTest, RejectsBadOptions) {
  EXPECT_FALSE(TrainBpeTokenizerJson(Options(TokenizerStyle::kByteLevel, 258)).ok());
  EXPECT_FALSE(TrainBpeTokenizerJson(Options(TokenizerStyle::kMetaspace, 258)).ok());
  EXPECT_FALSE(TrainBpeTokenizerJson(Options(TokenizerStyle::kByteLevel, 1 << 20)).ok());
  BpeTrainerOptions options = Options(TokenizerStyle::kByteLevel, 600);
  options.bos_token = "<bos>";
  EXPECT_FALSE(TrainBpeTokenizerJson(options).ok());
  options = Options(TokenizerStyle::kByteLevel, 600);
  options.special_tokens = {"<s>", "<s>"};
  options.bos_token.reset();
  EXPECT_FALSE(TrainBpeTokenizerJson(options).ok());
  options.special_tokens = {};
  options.corpus = "bad \xFF utf8";
  auto status = TrainBpeTokenizerJson(options).status();
  EXPECT_NE(std::string(status.message()).find("UTF-8"), std::string::npos) << status;
}

}  // namespace
}  // namespace tspserve
