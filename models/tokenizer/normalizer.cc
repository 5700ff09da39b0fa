#include "models/tokenizer/normalizer.h"

#include "models/tokenizer/unicode_space.h"

namespace tspserve {

std::string PrependNormalizer::Normalize(std::string_view text) const {
  if (text.empty()) return std::string();
  return prefix_ + std::string(text);
}

std::string ReplaceNormalizer::Normalize(std::string_view text) const {
  return pattern_->ReplaceAll(text, content_);
}

std::string StripNormalizer::Normalize(std::string_view text) const {
  size_t begin = 0;
  size_t end = text.size();
  if (left_) begin = LeadingWhitespaceLength(text);
  if (right_) end = begin + TrailingWhitespaceStart(text.substr(begin));
  return std::string(text.substr(begin, end - begin));
}

std::string SequenceNormalizer::Normalize(std::string_view text) const {
  std::string current(text);
  for (const auto& step : steps_) current = step->Normalize(current);
  return current;
}

}  // namespace tspserve
