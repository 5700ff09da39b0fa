// UTF-8 helpers for the tokenizer. Text is handled as bytes; these functions never reject input:
// ill-formed bytes are reported per "maximal subpart" (Unicode's recommended practice, which is
// also what Rust's String::from_utf8_lossy and therefore Hugging Face tokenizers use).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tspserve {

// Decodes the sequence starting at text[pos] (pos < text.size()). Returns the number of bytes it
// spans: the whole character when *valid, else the maximal ill-formed subpart (at least 1).
size_t Utf8SequenceAt(std::string_view text, size_t pos, bool* valid);

// The characters of `text` in order; each ill-formed byte becomes a piece of its own.
std::vector<std::string_view> SplitUtf8Chars(std::string_view text);

bool IsValidUtf8(std::string_view text);

// Appends code point `cp` (must be a Unicode scalar value) as UTF-8.
void AppendUtf8(char32_t cp, std::string* out);

// Decodes the first character of `text` (must be non-empty, valid UTF-8 at the start).
char32_t FirstCodepoint(std::string_view text);

// Replaces every maximal ill-formed subpart with U+FFFD.
std::string Utf8Lossy(std::string_view bytes);

// Length of the longest prefix that does not end inside a character that more bytes could still
// complete. Bytes past it are held back by streaming decoders.
size_t CompleteUtf8PrefixLength(std::string_view bytes);

// Replaces every occurrence of `from` (non-empty) with `to`.
std::string ReplaceAllLiteral(std::string_view text, std::string_view from, std::string_view to);

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace tspserve
