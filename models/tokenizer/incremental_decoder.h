// Streaming detokenization for one generated sequence.
//
// Invariant: the concatenation of every Append() result followed by Flush() equals
// tokenizer.Decode(all ids, skip_special_tokens). Text is released as soon as no later token can
// change it; pieces never end inside a UTF-8 character.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/tokenizer/tokenizer.h"

namespace tspserve {

class IncrementalDecoder {
 public:
  // `tokenizer` must outlive the decoder.
  IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens);

  // Newly completed text; may be "". Ids outside the vocabulary produce no text (Decode would
  // reject them; the sampler never emits them).
  std::string Append(int32_t id);

  // Everything still held back, decoded as if the sequence ended here (a dangling partial
  // character becomes U+FFFD). The decoder can keep going afterwards as a fresh sequence.
  std::string Flush();

 private:
  // Decodes the pending chunk; returns the text not yet emitted.
  std::string Advance(bool final);

  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  // Token strings since the last chunk boundary; earlier tokens cannot affect later text.
  std::vector<std::string> pending_;
  bool at_start_ = true;     // no chunk has been committed yet
  size_t emitted_ = 0;       // bytes of the pending chunk's text already returned
};

}  // namespace tspserve
