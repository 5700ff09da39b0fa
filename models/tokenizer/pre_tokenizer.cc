#include "models/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <utility>

#include "models/tokenizer/byte_level.h"
#include "models/tokenizer/utf8.h"

namespace tspserve {
namespace {

struct Span {
  size_t begin;
  size_t end;
  bool delimiter;
};

// The text cut into alternating delimiter / non-delimiter spans, covering all of it.
std::vector<Span> ToSpans(const Regex& pattern, std::string_view text, bool invert) {
  std::vector<Span> spans;
  size_t pos = 0;
  for (const auto& [begin, end] : pattern.FindAll(text)) {
    if (begin > pos) spans.push_back({pos, begin, invert});
    spans.push_back({begin, end, !invert});
    pos = end;
  }
  if (pos < text.size()) spans.push_back({pos, text.size(), invert});
  return spans;
}

// Merges each delimiter into its neighbour (the previous one, or with `next` the following one),
// as Hugging Face does: a delimiter directly after another delimiter stays on its own.
std::vector<Span> MergeDelimiters(std::vector<Span> spans, bool next) {
  if (next) std::reverse(spans.begin(), spans.end());
  std::vector<Span> merged;
  bool previous_delimiter = false;
  for (const Span& span : spans) {
    if (span.delimiter && !previous_delimiter && !merged.empty()) {
      if (next) {
        merged.back().begin = span.begin;
      } else {
        merged.back().end = span.end;
      }
    } else {
      merged.push_back({span.begin, span.end, false});
    }
    previous_delimiter = span.delimiter;
  }
  if (next) std::reverse(merged.begin(), merged.end());
  return merged;
}

std::vector<Span> ApplyBehavior(std::vector<Span> spans, SplitBehavior behavior) {
  std::vector<Span> out;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      return spans;
    case SplitBehavior::kRemoved:
      for (const Span& span : spans) {
        if (!span.delimiter) out.push_back(span);
      }
      return out;
    case SplitBehavior::kContiguous:
      for (const Span& span : spans) {
        if (span.delimiter && !out.empty() && out.back().delimiter) {
          out.back().end = span.end;
        } else {
          out.push_back(span);
        }
      }
      return out;
    case SplitBehavior::kMergedWithPrevious:
      return MergeDelimiters(std::move(spans), /*next=*/false);
    case SplitBehavior::kMergedWithNext:
      return MergeDelimiters(std::move(spans), /*next=*/true);
  }
  return spans;
}

// Replaces each piece by the spans `split` returns for its text.
template <typename SplitFn>
void SplitEach(std::vector<PreToken>* pieces, SplitFn split) {
  std::vector<PreToken> out;
  out.reserve(pieces->size());
  for (PreToken& piece : *pieces) {
    for (const Span& span : split(piece.text)) {
      if (span.end <= span.begin) continue;
      out.push_back({piece.text.substr(span.begin, span.end - span.begin),
                     piece.at_text_start && span.begin == 0});
    }
  }
  *pieces = std::move(out);
}

}  // namespace

void SplitPreTokenizer::PreTokenize(std::vector<PreToken>* pieces) const {
  SplitEach(pieces, [this](const std::string& text) {
    return ApplyBehavior(ToSpans(*pattern_, text, invert_), behavior_);
  });
}

void ByteLevelPreTokenizer::PreTokenize(std::vector<PreToken>* pieces) const {
  if (add_prefix_space_) {
    for (PreToken& piece : *pieces) {
      if (!piece.text.empty() && piece.text[0] != ' ') piece.text.insert(0, " ");
    }
  }
  if (regex_ != nullptr) {
    SplitEach(pieces, [this](const std::string& text) { return ToSpans(*regex_, text, false); });
  }
  for (PreToken& piece : *pieces) piece.text = BytesToByteLevel(piece.text);
}

void MetaspacePreTokenizer::PreTokenize(std::vector<PreToken>* pieces) const {
  for (PreToken& piece : *pieces) {
    piece.text = ReplaceAllLiteral(piece.text, " ", replacement_);
    const bool prepend = scheme_ == PrependScheme::kAlways ||
                         (scheme_ == PrependScheme::kFirst && piece.at_text_start);
    if (prepend && piece.text.rfind(replacement_, 0) != 0) piece.text.insert(0, replacement_);
  }
  if (!split_) return;
  SplitEach(pieces, [this](const std::string& text) {
    std::vector<Span> spans;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t next = text.find(replacement_, pos + 1);
      if (next == std::string::npos) next = text.size();
      spans.push_back({pos, next, false});
      pos = next;
    }
    return spans;
  });
}

void SequencePreTokenizer::PreTokenize(std::vector<PreToken>* pieces) const {
  for (const auto& step : steps_) step->PreTokenize(pieces);
}

}  // namespace tspserve
