// A Hugging Face tokenizer.json tokenizer with a BPE model: byte-level BPE (GPT-2, Llama 3,
// Qwen2) and SentencePiece-style Metaspace BPE with byte fallback (Llama 2, Mistral).
//
//   text -> added tokens split -> normalizer -> pre-tokenizer -> BPE per word -> post-processor
//   ids  -> token strings (skipping specials on request) -> decoder chain -> text
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tokenizer/added_vocabulary.h"
#include "models/tokenizer/bpe_model.h"
#include "models/tokenizer/decoder.h"
#include "models/tokenizer/normalizer.h"
#include "models/tokenizer/post_processor.h"
#include "models/tokenizer/pre_tokenizer.h"

namespace tspserve {

// The parsed pieces of a tokenizer.json; null pointers mean "absent" (decoder: never null).
struct TokenizerParts {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;  // never null
  AddedVocabulary added;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
};

class Tokenizer {
 public:
  // Errors name the file and the offending field or component type.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(std::string_view json,
                                                             std::string_view source_name);

  // Any bytes are accepted; ill-formed UTF-8 goes through byte-level or byte-fallback tokens.
  // Thread-safe.
  std::vector<int32_t> Encode(std::string_view text, bool add_special_tokens) const;

  // Fails when an id is outside [0, vocab_size()). Ids inside the range that name no token
  // (holes in the vocab) are skipped, as Hugging Face does.
  absl::StatusOr<std::string> Decode(std::span<const int32_t> ids,
                                     bool skip_special_tokens) const;

  int32_t vocab_size() const { return vocab_size_; }  // max id + 1 over model and added tokens
  std::optional<int32_t> TokenToId(std::string_view token) const;
  bool IsSpecial(int32_t id) const;

 private:
  friend class IncrementalDecoder;

  // The token string of `id` as fed to the decoder, or nullptr when it is a hole, out of range,
  // or (with skip_special_tokens) a special token. Used by IncrementalDecoder.
  const std::string* DecoderInput(int32_t id, bool skip_special_tokens) const;
  // Runs the decoder chain on a chunk of token strings; see DecodeState.
  std::string DecodeChunk(std::vector<std::string> tokens, DecodeState* state) const;

  explicit Tokenizer(TokenizerParts parts);
  void EncodeSegment(const TextSegment& segment, std::vector<int32_t>* ids) const;

  TokenizerParts parts_;
  int32_t vocab_size_ = 0;
};

}  // namespace tspserve
