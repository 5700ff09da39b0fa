#include "models/tokenizer/unicode_space.h"

#include "models/tokenizer/utf8.h"

namespace tspserve {

bool IsUnicodeWhitespace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

namespace {

bool IsWhitespaceChar(std::string_view ch) {
  bool valid;
  return Utf8SequenceAt(ch, 0, &valid) == ch.size() && valid &&
         IsUnicodeWhitespace(FirstCodepoint(ch));
}

}  // namespace

size_t LeadingWhitespaceLength(std::string_view text) {
  size_t length = 0;
  for (std::string_view ch : SplitUtf8Chars(text)) {
    if (!IsWhitespaceChar(ch)) break;
    length += ch.size();
  }
  return length;
}

size_t TrailingWhitespaceStart(std::string_view text) {
  size_t start = text.size();
  const std::vector<std::string_view> chars = SplitUtf8Chars(text);
  for (auto it = chars.rbegin(); it != chars.rend(); ++it) {
    if (!IsWhitespaceChar(*it)) break;
    start -= it->size();
  }
  return start;
}

}  // namespace tspserve
