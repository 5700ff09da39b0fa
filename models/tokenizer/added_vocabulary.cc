#include "models/tokenizer/added_vocabulary.h"

#include <algorithm>

#include "models/tokenizer/unicode_space.h"

namespace tspserve {

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens)
    : tokens_(std::move(tokens)), by_first_byte_(256) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    by_id_[tokens_[i].id] = i;
    by_content_[tokens_[i].content] = i;
    if (tokens_[i].content.empty()) continue;
    by_first_byte_[static_cast<uint8_t>(tokens_[i].content[0])].push_back(i);
  }
  for (auto& bucket : by_first_byte_) {
    std::stable_sort(bucket.begin(), bucket.end(), [this](size_t a, size_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
  }
}

const AddedToken* AddedVocabulary::MatchAt(std::string_view text, size_t pos) const {
  for (size_t index : by_first_byte_[static_cast<uint8_t>(text[pos])]) {
    const std::string& content = tokens_[index].content;
    if (text.compare(pos, content.size(), content) == 0) return &tokens_[index];
  }
  return nullptr;
}

std::vector<TextSegment> AddedVocabulary::Split(std::string_view text) const {
  std::vector<TextSegment> segments;
  size_t plain_begin = 0;  // start of the plain text not yet emitted
  auto emit_plain = [&](size_t end) {
    if (end > plain_begin) {
      segments.push_back({text.substr(plain_begin, end - plain_begin), std::nullopt,
                          plain_begin == 0});
    }
  };
  size_t pos = 0;
  while (!tokens_.empty() && pos < text.size()) {
    const AddedToken* token = MatchAt(text, pos);
    if (token == nullptr) {
      ++pos;
      continue;
    }
    size_t begin = pos;
    size_t end = pos + token->content.size();
    if (token->lstrip) {
      const std::string_view left = text.substr(plain_begin, begin - plain_begin);
      begin = plain_begin + TrailingWhitespaceStart(left);
    }
    if (token->rstrip) end += LeadingWhitespaceLength(text.substr(end));
    emit_plain(begin);
    segments.push_back({text.substr(begin, end - begin), token->id, begin == 0});
    plain_begin = pos = end;
  }
  emit_plain(text.size());
  return segments;
}

const AddedToken* AddedVocabulary::FindById(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int32_t> AddedVocabulary::TokenToId(std::string_view content) const {
  auto it = by_content_.find(absl::string_view(content.data(), content.size()));
  if (it == by_content_.end()) return std::nullopt;
  return tokens_[it->second].id;
}

}  // namespace tspserve
