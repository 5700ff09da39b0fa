// Decoders turn token strings back into text (Hugging Face decode_chain semantics), written so
// that a sequence can also be decoded in chunks: IncrementalDecoder relies on DecodeState to learn
// what is final and where a chunk may end.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/tokenizer/regex.h"

namespace tspserve {

// One pass of the decoder chain over a chunk of tokens.
struct DecodeState {
  bool at_start = true;   // the chunk begins the sequence
  bool final = true;      // no token will follow the chunk
  bool fused = false;     // the tokens were joined into one string spanning the chunk
  bool held = false;      // output was withheld because a later token could still change it
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites *tokens; the decoded text is their concatenation. When !state->final, output that a
  // later token could change is left out and state->held is set.
  virtual void Decode(std::vector<std::string>* tokens, DecodeState* state) const = 0;
};

// Maps byte-level characters back to bytes over the whole chunk, then decodes UTF-8 lossily.
class ByteLevelDecoder : public Decoder {
 public:
  void Decode(std::vector<std::string>* tokens, DecodeState* state) const override;
};

// Replaces every match of `pattern` with `content` in each token.
class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(std::unique_ptr<Regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void Decode(std::vector<std::string>* tokens, DecodeState* state) const override;

 private:
  std::unique_ptr<Regex> pattern_;
  std::string content_;
};

// Turns runs of <0xNN> tokens into their bytes when those form valid UTF-8, else one U+FFFD per
// byte token.
class ByteFallbackDecoder : public Decoder {
 public:
  void Decode(std::vector<std::string>* tokens, DecodeState* state) const override;
};

// Joins all tokens into one.
class FuseDecoder : public Decoder {
 public:
  void Decode(std::vector<std::string>* tokens, DecodeState* state) const override;
};

// Removes up to `start` leading and `stop` trailing `content` characters from each token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, int start, int stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void Decode(std::vector<std::string>* tokens, DecodeState* state) const override;

 private:
  std::string content_;
  int start_;
  int stop_;
};

// `replacement` becomes a space, except in the sequence's first token when a prefix was
// prepended at encode time (then it is dropped).
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void Decode(std::vector<std::string>* tokens, DecodeState* state) const override;

 private:
  std::string replacement_;
  bool strip_first_;
};

// What Hugging Face does without a decoder: tokens joined by single spaces.
class SpaceJoinDecoder : public Decoder {
 public:
  void Decode(std::vector<std::string>* tokens, DecodeState* state) const override;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps)
      : steps_(std::move(steps)) {}
  void Decode(std::vector<std::string>* tokens, DecodeState* state) const override;

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

}  // namespace tspserve
