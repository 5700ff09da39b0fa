#include "models/tokenizer/utf8.h"

#include <gtest/gtest.h>

#include "models/tokenizer/byte_level.h"

namespace tspserve {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8Test, LossyReplacesMaximalSubparts) {
  EXPECT_EQ(Utf8Lossy("abc"), "abc");
  EXPECT_EQ(Utf8Lossy("\xE4\xB8\xAD"), "\xE4\xB8\xAD");
  EXPECT_EQ(Utf8Lossy("\xE4\xB8"), kFffd);              // truncated: one subpart
  EXPECT_EQ(Utf8Lossy("\xE4\xB8" "A"), kFffd + "A");
  EXPECT_EQ(Utf8Lossy("\xFF\xFE"), kFffd + kFffd);      // never-valid bytes: one each
  EXPECT_EQ(Utf8Lossy("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // surrogate
  EXPECT_EQ(Utf8Lossy("\xF0\x9F\x99"), kFffd);
  EXPECT_EQ(Utf8Lossy("\x80" "a"), kFffd + "a");
}

TEST(Utf8Test, CompletePrefixHoldsOnlyCompletableTails) {
  EXPECT_EQ(CompleteUtf8PrefixLength(""), 0u);
  EXPECT_EQ(CompleteUtf8PrefixLength("ab"), 2u);
  EXPECT_EQ(CompleteUtf8PrefixLength("a\xF0\x9F\x99"), 1u);
  EXPECT_EQ(CompleteUtf8PrefixLength("a\xE4"), 1u);
  EXPECT_EQ(CompleteUtf8PrefixLength("a\xFF"), 2u);      // 0xFF can never be completed
  EXPECT_EQ(CompleteUtf8PrefixLength("a\x80"), 2u);
  EXPECT_EQ(CompleteUtf8PrefixLength("\xE4\x41"), 2u);   // already decided as ill-formed
}

TEST(Utf8Test, SplitCharsKeepsIllFormedBytesSeparate) {
  auto chars = SplitUtf8Chars("a\xC3\xA9\xE4\xB8z");
  ASSERT_EQ(chars.size(), 5u);
  EXPECT_EQ(chars[1], "\xC3\xA9");
  EXPECT_EQ(chars[2], "\xE4");
  EXPECT_EQ(chars[3], "\xB8");
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9llo \xF0\x9F\x99\x82"));
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));  // overlong
}

TEST(Utf8Test, AppendAndFirstCodepointRoundTrip) {
  for (char32_t cp : {0x24u, 0xA2u, 0x20ACu, 0x10348u, 0x10FFFFu}) {
    std::string s;
    AppendUtf8(cp, &s);
    EXPECT_TRUE(IsValidUtf8(s));
    EXPECT_EQ(FirstCodepoint(s), cp);
  }
}

TEST(ByteLevelTest, AllBytesRoundTrip) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::string mapped = BytesToByteLevel(all);
  EXPECT_TRUE(IsValidUtf8(mapped));
  EXPECT_EQ(ByteLevelChar(' '), "\xC4\xA0");  // "Ġ"
  EXPECT_EQ(ByteLevelChar('\n'), "\xC4\x8A");  // "Ċ"
  EXPECT_EQ(ByteLevelChar('A'), "A");
  std::string back;
  ASSERT_TRUE(ByteLevelToBytes(mapped, &back));
  EXPECT_EQ(back, all);
  std::string untouched = "x";
  EXPECT_FALSE(ByteLevelToBytes("a b", &untouched));  // a raw space is not in the alphabet
  EXPECT_EQ(untouched, "x");
}

TEST(ReplaceTest, LiteralReplacement) {
  EXPECT_EQ(ReplaceAllLiteral("a b  c", " ", "\xE2\x96\x81"), "a\xE2\x96\x81" "b\xE2\x96\x81\xE2\x96\x81" "c");
  EXPECT_EQ(ReplaceAllLiteral("abc", "", "x"), "abc");
}

}  // namespace
}  // namespace tspserve
