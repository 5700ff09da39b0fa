#include "models/tokenizer/decoder.h"

#include <optional>

#include "models/tokenizer/byte_level.h"
#include "models/tokenizer/utf8.h"

namespace tspserve {
namespace {

std::string Join(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& token : tokens) out += token;
  return out;
}

// The byte of a "<0xNN>" token.
std::optional<uint8_t> ParseByteToken(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') {
    return std::nullopt;
  }
  int value = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = token[i];
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    value = value * 16 + digit;
  }
  return static_cast<uint8_t>(value);
}

void FlushByteRun(std::string* run, size_t num_tokens, std::vector<std::string>* out) {
  if (num_tokens == 0) return;
  if (IsValidUtf8(*run)) {
    out->push_back(*run);
  } else {
    for (size_t i = 0; i < num_tokens; ++i) out->emplace_back(kReplacementChar);
  }
  run->clear();
}

// Counts how many `content` strings `text` starts with (from_end: ends with), at most `limit`.
size_t CountAffix(const std::string& text, const std::string& content, int limit, bool from_end) {
  size_t count = 0;
  const size_t n = content.size();
  while (static_cast<int>(count) < limit && (count + 1) * n <= text.size()) {
    const size_t pos = from_end ? text.size() - (count + 1) * n : count * n;
    if (text.compare(pos, n, content) != 0) break;
    ++count;
  }
  return count;
}

}  // namespace

void ByteLevelDecoder::Decode(std::vector<std::string>* tokens, DecodeState* state) const {
  std::string bytes;
  for (const std::string& token : *tokens) {
    if (!ByteLevelToBytes(token, &bytes)) bytes += token;
  }
  size_t keep = bytes.size();
  if (!state->final) keep = CompleteUtf8PrefixLength(bytes);
  if (keep < bytes.size()) state->held = true;
  *tokens = {Utf8Lossy(std::string_view(bytes).substr(0, keep))};
  state->fused = true;
}

void ReplaceDecoder::Decode(std::vector<std::string>* tokens, DecodeState* state) const {
  for (std::string& token : *tokens) token = pattern_->ReplaceAll(token, content_);
}

void ByteFallbackDecoder::Decode(std::vector<std::string>* tokens, DecodeState* state) const {
  std::vector<std::string> out;
  std::string run;
  size_t run_tokens = 0;
  for (std::string& token : *tokens) {
    if (auto byte = ParseByteToken(token)) {
      run.push_back(static_cast<char>(*byte));
      ++run_tokens;
      continue;
    }
    FlushByteRun(&run, run_tokens, &out);
    run_tokens = 0;
    out.push_back(std::move(token));
  }
  // A trailing run may still grow, which can turn valid text into U+FFFDs: hold all of it.
  if (!state->final && run_tokens > 0) {
    state->held = true;
  } else {
    FlushByteRun(&run, run_tokens, &out);
  }
  *tokens = std::move(out);
}

void FuseDecoder::Decode(std::vector<std::string>* tokens, DecodeState* state) const {
  *tokens = {Join(*tokens)};
  state->fused = true;
}

void StripDecoder::Decode(std::vector<std::string>* tokens, DecodeState* state) const {
  // Once fused, the token's ends are the chunk's ends: only the sequence's own ends are stripped,
  // and trailing content is held back until the end is known.
  const bool strip_start = !state->fused || state->at_start;
  const bool strip_stop = !state->fused || state->final;
  for (std::string& token : *tokens) {
    const size_t front = strip_start ? CountAffix(token, content_, start_, false) : 0;
    token.erase(0, front * content_.size());
    const size_t back = CountAffix(token, content_, stop_, true);
    if (back > 0 && !strip_stop) state->held = true;
    token.erase(token.size() - back * content_.size());
  }
}

void MetaspaceDecoder::Decode(std::vector<std::string>* tokens, DecodeState* state) const {
  for (size_t i = 0; i < tokens->size(); ++i) {
    const bool drop = strip_first_ && i == 0 && state->at_start;
    (*tokens)[i] = ReplaceAllLiteral((*tokens)[i], replacement_, drop ? "" : " ");
  }
}

void SpaceJoinDecoder::Decode(std::vector<std::string>* tokens, DecodeState* state) const {
  std::string joined;
  for (size_t i = 0; i < tokens->size(); ++i) {
    if (i > 0 || !state->at_start) joined += ' ';
    joined += (*tokens)[i];
  }
  *tokens = {joined};
  state->fused = true;
}

void SequenceDecoder::Decode(std::vector<std::string>* tokens, DecodeState* state) const {
  for (const auto& step : steps_) step->Decode(tokens, state);
}

}  // namespace tspserve
