// Added tokens (tokenizer.json "added_tokens"): matched in the raw text before normalization and
// BPE, so "<|eot_id|>" inside a prompt becomes its own id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace tspserve {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;     // skipped by Decode(skip_special_tokens=true)
  bool lstrip = false;      // the match also swallows whitespace on its left
  bool rstrip = false;      // ... and on its right
  bool normalized = false;  // Hugging Face matches these after normalization; we match raw text
};

// A piece of the input: either plain text for the model, or one added token.
struct TextSegment {
  std::string_view text;
  std::optional<int32_t> added_id;
  bool at_text_start;  // begins at offset 0 of the input
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  explicit AddedVocabulary(std::vector<AddedToken> tokens);

  // Cuts `text` at leftmost-longest matches of the added tokens. Empty plain segments are dropped.
  std::vector<TextSegment> Split(std::string_view text) const;

  const AddedToken* FindById(int32_t id) const;
  std::optional<int32_t> TokenToId(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // The longest token matching at text[pos], or nullptr.
  const AddedToken* MatchAt(std::string_view text, size_t pos) const;

  std::vector<AddedToken> tokens_;
  absl::flat_hash_map<int32_t, size_t> by_id_;
  absl::flat_hash_map<std::string, size_t> by_content_;
  // For each first byte, the tokens starting with it, longest first.
  std::vector<std::vector<size_t>> by_first_byte_;
};

}  // namespace tspserve
