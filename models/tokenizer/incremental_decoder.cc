#include "models/tokenizer/incremental_decoder.h"

namespace tspserve {

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string IncrementalDecoder::Append(int32_t id) {
  if (id < 0 || id >= tokenizer_.vocab_size()) return "";
  const std::string* token = tokenizer_.DecoderInput(id, skip_special_tokens_);
  if (token == nullptr) return "";
  pending_.push_back(*token);
  return Advance(/*final=*/false);
}

std::string IncrementalDecoder::Flush() {
  std::string text = Advance(/*final=*/true);
  pending_.clear();
  emitted_ = 0;
  at_start_ = true;
  return text;
}

std::string IncrementalDecoder::Advance(bool final) {
  DecodeState state;
  state.at_start = at_start_;
  state.final = final;
  const std::string text = tokenizer_.DecodeChunk(pending_, &state);
  // The chunk's text only grows as tokens are added (held-back output is excluded), so what was
  // emitted is always a prefix of it.
  std::string fresh = text.size() > emitted_ ? text.substr(emitted_) : std::string();
  emitted_ = std::max(emitted_, text.size());
  // A chunk may end once nothing is held back and, at the start, the sequence's leading
  // characters (stripped by Metaspace/Strip) have been decided by some visible output.
  if (!state.held && (!at_start_ || !text.empty())) {
    pending_.clear();
    emitted_ = 0;
    at_start_ = false;
  }
  return fresh;
}

}  // namespace tspserve
