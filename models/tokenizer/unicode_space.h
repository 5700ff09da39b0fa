// Unicode White_Space (the property Rust's char::is_whitespace uses), for strip/lstrip/rstrip.
#pragma once

#include <cstddef>
#include <string_view>

namespace tspserve {

bool IsUnicodeWhitespace(char32_t cp);

// Bytes of whitespace at the start of `text`.
size_t LeadingWhitespaceLength(std::string_view text);

// Offset where the trailing whitespace of `text` begins (text.size() when there is none).
size_t TrailingWhitespaceStart(std::string_view text);

}  // namespace tspserve
