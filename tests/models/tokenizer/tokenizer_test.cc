// Hand-written tokenizer.json files: malformed input, each component on small vocabularies, and
// Encode speed on a long prompt.
#include "models/tokenizer/tokenizer.h"

#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "models/tokenizer/bpe_trainer.h"

namespace tspserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A Metaspace/byte-fallback tokenizer over a tiny vocab; `extra` is spliced into the root object.
std::string MetaspaceJson(const std::string& extra = "") {
  std::string vocab = R"("<unk>":0,"<s>":1,"</s>":2,"\u2581":3,"a":4,"b":5,"\u2581a":6,"ab":7,)"
                      R"("\u2581ab":8)";
  for (int b = 0; b < 256; ++b) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), R"(,"<0x%02X>":%d)", b, 9 + b);
    vocab += buf;
  }
  return R"({"added_tokens":[{"id":0,"content":"<unk>","special":true},)"
         R"({"id":1,"content":"<s>","special":true},{"id":2,"content":"</s>","special":true}],)"
         R"("normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"\u2581"},)"
         R"({"type":"Replace","pattern":{"String":" "},"content":"\u2581"}]},)"
         R"("post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>",)"
         R"("type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"special_tokens":{"<s>":{"id":"<s>",)"
         R"("ids":[1],"tokens":["<s>"]}}},)"
         R"("decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"\u2581"},)"
         R"("content":" "},{"type":"ByteFallback"},{"type":"Fuse"},)"
         R"({"type":"Strip","content":" ","start":1,"stop":0}]},)" +
         extra +
         R"("model":{"type":"BPE","unk_token":"<unk>","fuse_unk":true,"byte_fallback":true,)"
         R"("vocab":{)" + vocab + R"(},"merges":["a b","\u2581 a","\u2581 ab"]}})";
}

std::unique_ptr<Tokenizer> MustLoad(const std::string& json) {
  auto tokenizer = Tokenizer::FromJson(json, "test.json");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(tokenizer).value() : nullptr;
}

std::string LoadError(const std::string& json) {
  auto tokenizer = Tokenizer::FromJson(json, "bad.json");
  EXPECT_FALSE(tokenizer.ok());
  return tokenizer.ok() ? "" : std::string(tokenizer.status().message());
}

TEST(TokenizerMalformedTest, ErrorsNameFileAndField) {
  const std::string good = MetaspaceJson();
  EXPECT_THAT(LoadError(good.substr(0, good.size() / 2)), HasSubstr("bad.json"));
  EXPECT_THAT(LoadError(""), HasSubstr("invalid tokenizer JSON"));
  EXPECT_THAT(LoadError("[1,2]"), HasSubstr("expected an object"));
  EXPECT_THAT(LoadError(R"({"model":{"type":"WordPiece","vocab":{}}})"), HasSubstr("WordPiece"));
  EXPECT_THAT(LoadError(R"({"model":{"type":"BPE","merges":[]}})"), HasSubstr("model.vocab"));
  EXPECT_THAT(LoadError(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":["a zz"]}})"),
              HasSubstr("merge 0"));
  EXPECT_THAT(LoadError(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":["a"]}})"),
              HasSubstr("model.merges[0]"));
  EXPECT_THAT(LoadError(R"({"model":{"type":"BPE","vocab":{"a":0,"b":0},"merges":[]}})"),
              HasSubstr("used twice"));
  EXPECT_THAT(LoadError(R"({"model":{"type":"BPE","vocab":{"a":"x"},"merges":[]}})"),
              HasSubstr("model.vocab.a"));
  EXPECT_THAT(LoadError(R"({"normalizer":{"type":"NFKD"},"model":{"vocab":{},"merges":[]}})"),
              HasSubstr("unsupported normalizer type 'NFKD'"));
  EXPECT_THAT(LoadError(R"({"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"BertPreTokenizer"}]},"model":{"vocab":{},"merges":[]}})"),
              HasSubstr("pre_tokenizer.pretokenizers[0]: unsupported pre_tokenizer type"));
  EXPECT_THAT(LoadError(R"({"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(("},"behavior":"Isolated"},"model":{"vocab":{},"merges":[]}})"),
              HasSubstr("pre_tokenizer.pattern"));
  EXPECT_THAT(LoadError(R"({"decoder":{"type":"WordPiece"},"model":{"vocab":{},"merges":[]}})"),
              HasSubstr("unsupported decoder type 'WordPiece'"));
  EXPECT_THAT(LoadError(R"({"added_tokens":[{"content":"x"}],"model":{"vocab":{},"merges":[]}})"),
              HasSubstr("added_tokens[0].id"));
  EXPECT_THAT(LoadError(R"({"model":{"vocab":{},"merges":[],"continuing_subword_prefix":"##"}})"),
              HasSubstr("continuing_subword_prefix"));
}

TEST(TokenizerMalformedTest, MissingFile) {
  auto tokenizer = Tokenizer::FromFile("/nonexistent/tokenizer.json");
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr("/nonexistent/tokenizer.json"));
}

TEST(TokenizerMalformedTest, NfcIsAccepted) {
  auto tokenizer = MustLoad(R"({"normalizer":{"type":"NFC"},"model":{"vocab":{"a":0},"merges":[]}})");
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_THAT(tokenizer->Encode("aa", false), ElementsAre(0, 0));
}

TEST(MetaspaceTokenizerTest, EncodeWithMergesFallbackAndBos) {
  auto tokenizer = MustLoad(MetaspaceJson());
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->vocab_size(), 9 + 256);
  EXPECT_THAT(tokenizer->Encode("ab", true), ElementsAre(1, 8));
  EXPECT_THAT(tokenizer->Encode("ab a", false), ElementsAre(8, 6));
  // "é" is not in the vocab: its two bytes <0xC3><0xA9> are used.
  EXPECT_THAT(tokenizer->Encode("é", false), ElementsAre(3, 9 + 0xC3, 9 + 0xA9));
  EXPECT_THAT(tokenizer->Encode("", true), ElementsAre(1));
  // Added tokens split the text; each plain segment gets its own "▁" (legacy Llama 2).
  EXPECT_THAT(tokenizer->Encode("a</s>b", false), ElementsAre(6, 2, 3, 5));
  EXPECT_EQ(tokenizer->TokenToId("</s>"), 2);
  EXPECT_EQ(tokenizer->TokenToId("\xE2\x96\x81" "ab"), 8);
  EXPECT_EQ(tokenizer->TokenToId("zzz"), std::nullopt);
  EXPECT_TRUE(tokenizer->IsSpecial(1));
  EXPECT_FALSE(tokenizer->IsSpecial(4));
  EXPECT_FALSE(tokenizer->IsSpecial(-1));
}

TEST(MetaspaceTokenizerTest, DecodeStripsFirstSpaceAndFusesBytes) {
  auto tokenizer = MustLoad(MetaspaceJson());
  ASSERT_NE(tokenizer, nullptr);
  const int32_t c3 = 9 + 0xC3;
  const int32_t a9 = 9 + 0xA9;
  EXPECT_EQ(*tokenizer->Decode(std::vector<int32_t>{1, 8, 6}, true), "ab a");
  EXPECT_EQ(*tokenizer->Decode(std::vector<int32_t>{1, 8, 6}, false), "<s> ab a");
  EXPECT_EQ(*tokenizer->Decode(std::vector<int32_t>{3, c3, a9, 4}, false), "éa");
  // An incomplete byte run becomes one U+FFFD per byte token.
  EXPECT_EQ(*tokenizer->Decode(std::vector<int32_t>{4, c3, 4}, false), "a\xEF\xBF\xBD" "a");
  EXPECT_EQ(*tokenizer->Decode(std::vector<int32_t>{}, false), "");
}

TEST(MetaspaceTokenizerTest, DecodeRejectsOutOfRangeIds) {
  auto tokenizer = MustLoad(MetaspaceJson());
  ASSERT_NE(tokenizer, nullptr);
  for (int32_t bad : {-1, tokenizer->vocab_size(), 1 << 30}) {
    auto decoded = tokenizer->Decode(std::vector<int32_t>{4, bad}, false);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_THAT(std::string(decoded.status().message()), HasSubstr("position 1"));
  }
}

TEST(MetaspaceTokenizerTest, UnknownCharactersFuseIntoOneUnk) {
  // Without byte fallback, unknown characters become <unk>; consecutive ones fuse.
  std::string json = MetaspaceJson();
  json.replace(json.find(R"("byte_fallback":true)"), 20, R"("byte_fallback":false)");
  auto tokenizer = MustLoad(json);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_THAT(tokenizer->Encode("a\xC3\xA9\xC3\xA9" "a", false), ElementsAre(6, 0, 4));
}

TEST(AddedTokenTest, LstripRstripAndLongestMatch) {
  auto tokenizer = MustLoad(R"({
    "added_tokens":[{"id":10,"content":"<m>","lstrip":true,"rstrip":true,"special":false},
                    {"id":11,"content":"<m>x","special":true}],
    "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false},
    "decoder":{"type":"ByteLevel"},
    "model":{"vocab":{"a":0,"Ġ":1,"x":2},"merges":[]}})");
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_THAT(tokenizer->Encode("a  <m>  a", false), ElementsAre(0, 10, 0));
  EXPECT_THAT(tokenizer->Encode("a <m>x a", false), ElementsAre(0, 1, 11, 1, 0));
  EXPECT_EQ(*tokenizer->Decode(std::vector<int32_t>{0, 11, 0}, true), "aa");
  EXPECT_EQ(*tokenizer->Decode(std::vector<int32_t>{0, 10, 0}, true), "a<m>a");
  EXPECT_EQ(tokenizer->vocab_size(), 12);
  // Ids between the model vocab and the added tokens are holes: skipped, not an error.
  EXPECT_EQ(*tokenizer->Decode(std::vector<int32_t>{0, 5, 0}, false), "aa");
}

TEST(PreTokenizerTest, SplitBehaviorsAndDigits) {
  auto tokenizer = MustLoad(R"({
    "pre_tokenizer":{"type":"Sequence","pretokenizers":[
      {"type":"Split","pattern":{"String":"-"},"behavior":"MergedWithPrevious","invert":false},
      {"type":"Digits","individual_digits":true}]},
    "model":{"vocab":{"a":0,"-":1,"1":2,"2":3,"a-":4},"merges":["a -"]}})");
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_THAT(tokenizer->Encode("a-a--12", false), ElementsAre(4, 4, 1, 2, 3));
  EXPECT_EQ(*tokenizer->Decode(std::vector<int32_t>{0, 2}, false), "a 1");  // no decoder: spaces
}

TEST(PreTokenizerTest, MetaspaceFirstSchemeOnlyPrependsAtTextStart) {
  auto tokenizer = MustLoad(R"({
    "added_tokens":[{"id":5,"content":"<s>","special":true}],
    "pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},
    "decoder":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},
    "model":{"vocab":{"▁":0,"a":1,"▁a":2},"merges":["▁ a"]}})");
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_THAT(tokenizer->Encode("a a", false), ElementsAre(2, 2));
  EXPECT_THAT(tokenizer->Encode("a<s>a", false), ElementsAre(2, 5, 1));
  EXPECT_THAT(tokenizer->Encode("a  a", false), ElementsAre(2, 0, 2));
  EXPECT_EQ(*tokenizer->Decode(std::vector<int32_t>{2, 0, 2}, false), "a  a");
}

TEST(TokenizerSpeedTest, EncodesLongPromptQuickly) {
  BpeTrainerOptions options;
  options.vocab_size = 4096;
  auto json = TrainBpeTokenizerJson(options);
  ASSERT_TRUE(json.ok()) << json.status();
  auto tokenizer = MustLoad(*json);
  ASSERT_NE(tokenizer, nullptr);
  std::string text;
  for (int i = 0; i < 4000; ++i) {
    text += "Paragraph " + std::to_string(i * 7919) + ": the quick brown fox jumps over the "
            "lazy dog; 雨が降り始めた 🙂 Grüße\n";
  }
  text += std::string(100000, ' ') + "end";  // one huge whitespace run
  const auto start = std::chrono::steady_clock::now();
  const auto ids = tokenizer->Encode(text, false);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(ids.size(), 100000u);
  EXPECT_LT(seconds, 3.0);
  EXPECT_EQ(*tokenizer->Decode(ids, false), text);
}

}  // namespace
}  // namespace tspserve
