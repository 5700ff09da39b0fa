// Compares the C++ tokenizer with Hugging Face `tokenizers` on the checked-in golden data written
// by tests/golden/tokenizer/make_tokenizer_golden.py, and checks trainer determinism against it.
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/tokenizer/bpe_trainer.h"
#include "models/tokenizer/incremental_decoder.h"
#include "models/tokenizer/tokenizer.h"
#include "tests/models/tokenizer/golden_configs.h"

namespace tspserve {
namespace {

std::string DataPath(const std::string& file) {
  const char* root = std::getenv("TSPSERVE_SOURCE_DIR");
  return std::string(root != nullptr ? root : ".") + "/tests/golden/tokenizer/data/" + file;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string StreamDecode(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip) {
  IncrementalDecoder decoder(tokenizer, skip);
  std::string text;
  for (int32_t id : ids) text += decoder.Append(id);
  return text + decoder.Flush();
}

class GoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto tokenizer = Tokenizer::FromFile(DataPath(GetParam() + ".tokenizer.json"));
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = std::move(tokenizer).value();
    cases_ = nlohmann::json::parse(ReadFile(DataPath(GetParam() + ".cases.json")));
    ASSERT_GT(cases_.size(), 30u);
  }
  // Byte level without a prefix space: Decode(Encode(s)) gives s back exactly.
  bool RoundTrips() const { return GetParam() == "trained_bytelevel" || GetParam() == "hf_llama3"; }

  std::unique_ptr<Tokenizer> tokenizer_;
  nlohmann::json cases_;
};

TEST_P(GoldenTest, EncodeMatchesHuggingFace) {
  for (const auto& c : cases_) {
    const std::string text = c["text"];
    EXPECT_EQ(tokenizer_->Encode(text, false), c["ids"].get<std::vector<int32_t>>()) << text;
    EXPECT_EQ(tokenizer_->Encode(text, true), c["ids_with_special"].get<std::vector<int32_t>>())
        << text;
  }
}

TEST_P(GoldenTest, DecodeMatchesHuggingFace) {
  for (const auto& c : cases_) {
    const auto ids = c["ids_with_special"].get<std::vector<int32_t>>();
    auto decoded = tokenizer_->Decode(ids, false);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, c["decoded"].get<std::string>());
    auto skipped = tokenizer_->Decode(ids, true);
    ASSERT_TRUE(skipped.ok()) << skipped.status();
    EXPECT_EQ(*skipped, c["decoded_skip"].get<std::string>());
    if (RoundTrips()) {
      const std::string text = c["text"];
      EXPECT_EQ(*tokenizer_->Decode(tokenizer_->Encode(text, false), false), text);
    }
  }
}

TEST_P(GoldenTest, IncrementalDecodeEqualsDecode) {
  for (const auto& c : cases_) {
    const auto ids = c["ids_with_special"].get<std::vector<int32_t>>();
    for (bool skip : {false, true}) {
      EXPECT_EQ(StreamDecode(*tokenizer_, ids, skip), *tokenizer_->Decode(ids, skip))
          << c["text"].get<std::string>();
    }
  }
}

// Random ids hit byte tokens mid-character, invalid UTF-8, specials and leading "▁" tokens.
TEST_P(GoldenTest, IncrementalDecodeEqualsDecodeOnRandomIds) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> any_id(0, tokenizer_->vocab_size() - 1);
  std::uniform_int_distribution<int32_t> length(0, 40);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<int32_t> ids(length(rng));
    for (int32_t& id : ids) id = any_id(rng);
    for (bool skip : {false, true}) {
      auto full = tokenizer_->Decode(ids, skip);
      ASSERT_TRUE(full.ok());
      ASSERT_EQ(StreamDecode(*tokenizer_, ids, skip), *full) << "trial " << trial;
    }
  }
}

TEST_P(GoldenTest, StreamedPiecesAreValidUtf8) {
  const auto ids = tokenizer_->Encode("Emoji 👩‍👩‍👧‍👦 日本語 Grüße", false);
  IncrementalDecoder decoder(*tokenizer_, false);
  for (int32_t id : ids) {
    const std::string piece = decoder.Append(id);
    EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos) << "piece broke a character";
  }
}

INSTANTIATE_TEST_SUITE_P(Files, GoldenTest,
                         ::testing::Values("trained_bytelevel", "trained_metaspace", "hf_gpt2",
                                           "hf_llama3"));

TEST(GoldenTrainerTest, TrainerOutputIsByteIdenticalToCheckedInFile) {
  for (const std::string name : {"trained_bytelevel", "trained_metaspace"}) {
    auto options = GoldenTrainerOptions(name);
    ASSERT_TRUE(options.has_value());
    auto json = TrainBpeTokenizerJson(*options);
    ASSERT_TRUE(json.ok()) << json.status();
    EXPECT_EQ(*json, ReadFile(DataPath(name + ".tokenizer.json"))) << name;
  }
}

}  // namespace
}  // namespace tspserve
