// The GPT-2 byte-level alphabet: every byte is shown as one printable Unicode character so that
// byte-level BPE vocabularies are valid UTF-8 strings ("Ġ" is the space byte 0x20).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tspserve {

// The UTF-8 encoding of the character that stands for `byte`.
std::string_view ByteLevelChar(uint8_t byte);

// Maps every byte of `bytes` to its character.
std::string BytesToByteLevel(std::string_view bytes);

// Maps the characters of a byte-level token back to bytes and appends them to *out. Returns false
// (and appends nothing) when some character is not in the alphabet.
bool ByteLevelToBytes(std::string_view token, std::string* out);

}  // namespace tspserve
