// Pre-tokenizers cut normalized text into words; BPE never merges across a word boundary.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/tokenizer/regex.h"

namespace tspserve {

struct PreToken {
  std::string text;
  bool at_text_start;  // starts at offset 0 of the input (Metaspace prepend_scheme "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces *pieces by their sub-pieces, in order; empty pieces are dropped.
  virtual void PreTokenize(std::vector<PreToken>* pieces) const = 0;
};

// How Split treats the matched delimiters (Hugging Face SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Splits on regex matches. `invert` swaps the roles of matches and the text between them.
class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<Regex> pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void PreTokenize(std::vector<PreToken>* pieces) const override;

 private:
  std::unique_ptr<Regex> pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// GPT-2 byte level: optional prefix space, optional GPT-2 regex split, then every byte is mapped
// to its printable character.
class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  // `gpt2_regex` is required when use_regex is set.
  ByteLevelPreTokenizer(bool add_prefix_space, std::unique_ptr<Regex> gpt2_regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(gpt2_regex)) {}
  void PreTokenize(std::vector<PreToken>* pieces) const override;

  static constexpr char kGpt2Pattern[] =
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

// SentencePiece style: spaces become `replacement` ("▁"), which is prepended per `scheme`;
// with `split` each word starts at a replacement character.
class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void PreTokenize(std::vector<PreToken>* pieces) const override;

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps)
      : steps_(std::move(steps)) {}
  void PreTokenize(std::vector<PreToken>* pieces) const override;

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace tspserve
