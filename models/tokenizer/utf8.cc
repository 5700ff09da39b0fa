#include "models/tokenizer/utf8.h"

#include <cstdint>

namespace tspserve {
namespace {

// Expected length of a sequence led by `lead`, and the range allowed for its second byte.
// Returns 0 for bytes that can never start a sequence.
int LeadInfo(uint8_t lead, uint8_t* lo, uint8_t* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (lead == 0xE0) *lo = 0xA0;
    if (lead == 0xED) *hi = 0x9F;
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (lead == 0xF0) *lo = 0x90;
    if (lead == 0xF4) *hi = 0x8F;
    return 4;
  }
  return 0;
}

}  // namespace

size_t Utf8SequenceAt(std::string_view text, size_t pos, bool* valid) {
  uint8_t lo;
  uint8_t hi;
  const int len = LeadInfo(static_cast<uint8_t>(text[pos]), &lo, &hi);
  *valid = false;
  if (len == 0) return 1;
  size_t i = 1;
  for (; i < static_cast<size_t>(len); ++i) {
    if (pos + i >= text.size()) return i;
    const uint8_t b = static_cast<uint8_t>(text[pos + i]);
    if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return i;
  }
  *valid = true;
  return i;
}

std::vector<std::string_view> SplitUtf8Chars(std::string_view text) {
  std::vector<std::string_view> chars;
  chars.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    bool valid;
    const size_t n = Utf8SequenceAt(text, pos, &valid);
    if (valid) {
      chars.push_back(text.substr(pos, n));
    } else {
      for (size_t i = 0; i < n; ++i) chars.push_back(text.substr(pos + i, 1));
    }
    pos += n;
  }
  return chars;
}

bool IsValidUtf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    bool valid;
    pos += Utf8SequenceAt(text, pos, &valid);
    if (!valid) return false;
  }
  return true;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

char32_t FirstCodepoint(std::string_view text) {
  const auto b0 = static_cast<uint8_t>(text[0]);
  if (b0 < 0x80) return b0;
  const int len = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : 2;
  char32_t cp = b0 & (0x7F >> len);
  for (int i = 1; i < len && i < static_cast<int>(text.size()); ++i) {
    cp = (cp << 6) | (static_cast<uint8_t>(text[i]) & 0x3F);
  }
  return cp;
}

std::string Utf8Lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    bool valid;
    const size_t n = Utf8SequenceAt(bytes, pos, &valid);
    if (valid) {
      out.append(bytes.substr(pos, n));
    } else {
      out.append(kReplacementChar);
    }
    pos += n;
  }
  return out;
}

size_t CompleteUtf8PrefixLength(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    bool valid;
    const size_t n = Utf8SequenceAt(bytes, pos, &valid);
    // An ill-formed subpart that runs to the end may still become a whole character.
    if (!valid && pos + n == bytes.size()) {
      uint8_t lo;
      uint8_t hi;
      if (LeadInfo(static_cast<uint8_t>(bytes[pos]), &lo, &hi) > 1) return pos;
    }
    pos += n;
  }
  return bytes.size();
}

std::string ReplaceAllLiteral(std::string_view text, std::string_view from, std::string_view to) {
  if (from.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = text.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace tspserve
