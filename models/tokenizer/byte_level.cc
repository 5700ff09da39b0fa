#include "models/tokenizer/byte_level.h"

#include <array>

#include "absl/container/flat_hash_map.h"
#include "models/tokenizer/utf8.h"

namespace tspserve {
namespace {

// Printable Latin-1 bytes stand for themselves; the others take code points 256, 257, ... in
// byte order.
struct Tables {
  std::array<std::string, 256> byte_to_char;
  absl::flat_hash_map<char32_t, uint8_t> char_to_byte;

  Tables() {
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
      AppendUtf8(cp, &byte_to_char[b]);
      char_to_byte[cp] = static_cast<uint8_t>(b);
    }
  }
};

const Tables& GetTables() {
  static const Tables* tables = new Tables();
  return *tables;
}

}  // namespace

std::string_view ByteLevelChar(uint8_t byte) { return GetTables().byte_to_char[byte]; }

std::string BytesToByteLevel(std::string_view bytes) {
  const Tables& tables = GetTables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out.append(tables.byte_to_char[static_cast<uint8_t>(c)]);
  return out;
}

bool ByteLevelToBytes(std::string_view token, std::string* out) {
  const Tables& tables = GetTables();
  std::string bytes;
  for (std::string_view ch : SplitUtf8Chars(token)) {
    bool valid;
    if (Utf8SequenceAt(ch, 0, &valid) != ch.size() || !valid) return false;
    auto it = tables.char_to_byte.find(FirstCodepoint(ch));
    if (it == tables.char_to_byte.end()) return false;
    bytes.push_back(static_cast<char>(it->second));
  }
  out->append(bytes);
  return true;
}

}  // namespace tspserve
