#include "models/tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"
#include "models/tokenizer/tokenizer_json.h"

namespace tspserve {

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open tokenizer file ", path));
  std::stringstream buffer;
  buffer << file.rdbuf();
  return FromJson(buffer.str(), path);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view json,
                                                               std::string_view source_name) {
  absl::StatusOr<TokenizerParts> parts = ParseTokenizerJson(json);
  if (!parts.ok()) return Annotate(parts.status(), source_name);
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(parts).value()));
}

Tokenizer::Tokenizer(TokenizerParts parts) : parts_(std::move(parts)) {
  vocab_size_ = parts_.model->max_id() + 1;
  for (const AddedToken& token : parts_.added.tokens()) {
    vocab_size_ = std::max(vocab_size_, token.id + 1);
  }
}

void Tokenizer::EncodeSegment(const TextSegment& segment, std::vector<int32_t>* ids) const {
  std::string text(segment.text);
  if (parts_.normalizer != nullptr) text = parts_.normalizer->Normalize(text);
  if (text.empty()) return;
  std::vector<PreToken> words = {{std::move(text), segment.at_text_start}};
  if (parts_.pre_tokenizer != nullptr) parts_.pre_tokenizer->PreTokenize(&words);
  for (const PreToken& word : words) parts_.model->Tokenize(word.text, ids);
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  for (const TextSegment& segment : parts_.added.Split(text)) {
    if (segment.added_id.has_value()) {
      ids.push_back(*segment.added_id);
    } else {
      EncodeSegment(segment, &ids);
    }
  }
  if (parts_.post_processor == nullptr) return ids;
  return parts_.post_processor->Process(std::move(ids), add_special_tokens);
}

const std::string* Tokenizer::DecoderInput(int32_t id, bool skip_special_tokens) const {
  if (const AddedToken* added = parts_.added.FindById(id)) {
    if (skip_special_tokens && added->special) return nullptr;
    return &added->content;
  }
  return parts_.model->IdToToken(id);
}

std::string Tokenizer::DecodeChunk(std::vector<std::string> tokens, DecodeState* state) const {
  parts_.decoder->Decode(&tokens, state);
  std::string text;
  for (const std::string& token : tokens) text += token;
  return text;
}

absl::StatusOr<std::string> Tokenizer::Decode(std::span<const int32_t> ids,
                                              bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size_) {
      return absl::OutOfRangeError(absl::StrCat("token id ", ids[i], " at position ", i,
                                                " is outside the vocabulary [0, ", vocab_size_,
                                                ")"));
    }
    if (const std::string* token = DecoderInput(ids[i], skip_special_tokens)) {
      tokens.push_back(*token);
    }
  }
  DecodeState state;
  return DecodeChunk(std::move(tokens), &state);
}

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  if (auto id = parts_.added.TokenToId(token)) return id;
  return parts_.model->TokenToId(token);
}

bool Tokenizer::IsSpecial(int32_t id) const {
  const AddedToken* added = parts_.added.FindById(id);
  return added != nullptr && added->special;
}

}  // namespace tspserve
