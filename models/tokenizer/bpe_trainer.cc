#include "models/tokenizer/bpe_trainer.h"

#include <algorithm>
#include <map>
#include <queue>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/common/status.h"
#include "models/tokenizer/builtin_corpus.h"
#include "models/tokenizer/byte_level.h"
#include "models/tokenizer/pre_tokenizer.h"
#include "models/tokenizer/utf8.h"

namespace tspserve {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kLlama3Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)"
    R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kMetaspace[] = "\xE2\x96\x81";  // U+2581 "▁"

// Distinct pre-tokenized words of the corpus with their counts, in a deterministic order.
absl::StatusOr<std::map<std::string, int64_t>> CountWords(TokenizerStyle style,
                                                          const std::string& corpus) {
  std::vector<PreToken> pieces;
  if (style == TokenizerStyle::kByteLevel) {
    pieces = {{corpus, true}};
    ASSIGN_OR_RETURN(auto regex, Regex::Compile(kLlama3Pattern, false));
    SplitPreTokenizer(std::move(regex), SplitBehavior::kIsolated, false).PreTokenize(&pieces);
    ByteLevelPreTokenizer(false, nullptr).PreTokenize(&pieces);
  } else {
    pieces = {{kMetaspace + ReplaceAllLiteral(corpus, " ", kMetaspace), true}};
    MetaspacePreTokenizer(kMetaspace, PrependScheme::kNever, true).PreTokenize(&pieces);
  }
  std::map<std::string, int64_t> counts;
  for (const PreToken& piece : pieces) ++counts[piece.text];
  return counts;
}

// Stands for a character left to byte fallback; it never takes part in a merge, so no token mixes
// <0xNN> pieces with text.
constexpr int32_t kNoSymbol = -1;

// The merge loop over word symbol sequences with incrementally maintained pair counts.
class MergeLearner {
 public:
  MergeLearner(std::vector<std::string> base_vocab, const std::map<std::string, int64_t>& words);

  // Learns merges until the vocab holds `target` tokens or no pair is left.
  void Run(size_t target);

  const std::vector<std::string>& vocab() const { return tokens_; }
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merges_; }

 private:
  struct Entry {
    int64_t count;
    uint64_t pair;
  };
  static uint64_t Key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static int32_t Left(uint64_t key) { return static_cast<int32_t>(key >> 32); }
  static int32_t Right(uint64_t key) { return static_cast<int32_t>(key & 0xFFFFFFFFu); }

  // True when `a` should be merged before `b`: higher count, then smaller token strings.
  bool Before(const Entry& a, const Entry& b) const;
  void AddWordPairs(size_t word, int64_t sign);
  void MergeWord(size_t word, uint64_t pair, int32_t new_id);

  std::vector<std::string> tokens_;
  absl::flat_hash_map<std::string, int32_t> token_ids_;
  std::vector<std::vector<int32_t>> words_;
  std::vector<int64_t> word_counts_;
  absl::flat_hash_map<uint64_t, int64_t> pair_counts_;
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<size_t>> pair_words_;
  std::vector<Entry> heap_;  // lazy max-heap by Before(); stale entries are skipped
  std::vector<std::pair<int32_t, int32_t>> merges_;
};

MergeLearner::MergeLearner(std::vector<std::string> base_vocab,
                           const std::map<std::string, int64_t>& words)
    : tokens_(std::move(base_vocab)) {
  for (size_t i = 0; i < tokens_.size(); ++i) token_ids_[tokens_[i]] = static_cast<int32_t>(i);
  for (const auto& [word, count] : words) {
    std::vector<int32_t> symbols;
    for (std::string_view ch : SplitUtf8Chars(word)) {
      auto it = token_ids_.find(absl::string_view(ch.data(), ch.size()));
      symbols.push_back(it == token_ids_.end() ? kNoSymbol : it->second);
    }
    words_.push_back(std::move(symbols));
    word_counts_.push_back(count);
    AddWordPairs(words_.size() - 1, +1);
  }
}

bool MergeLearner::Before(const Entry& a, const Entry& b) const {
  if (a.count != b.count) return a.count > b.count;
  const std::string& al = tokens_[Left(a.pair)];
  const std::string& bl = tokens_[Left(b.pair)];
  if (al != bl) return al < bl;
  return tokens_[Right(a.pair)] < tokens_[Right(b.pair)];
}

void MergeLearner::AddWordPairs(size_t word, int64_t sign) {
  const std::vector<int32_t>& symbols = words_[word];
  auto later = [this](const Entry& a, const Entry& b) { return Before(b, a); };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (symbols[i] == kNoSymbol || symbols[i + 1] == kNoSymbol) continue;
    const uint64_t key = Key(symbols[i], symbols[i + 1]);
    int64_t& count = pair_counts_[key];
    count += sign * word_counts_[word];
    if (sign > 0) {
      pair_words_[key].insert(word);
      heap_.push_back({count, key});
      std::push_heap(heap_.begin(), heap_.end(), later);
    }
  }
}

void MergeLearner::MergeWord(size_t word, uint64_t pair, int32_t new_id) {
  AddWordPairs(word, -1);
  std::vector<int32_t>& symbols = words_[word];
  std::vector<int32_t> merged;
  merged.reserve(symbols.size());
  for (size_t i = 0; i < symbols.size(); ++i) {
    if (i + 1 < symbols.size() && Key(symbols[i], symbols[i + 1]) == pair) {
      merged.push_back(new_id);
      ++i;
    } else {
      merged.push_back(symbols[i]);
    }
  }
  symbols = std::move(merged);
  AddWordPairs(word, +1);
}

void MergeLearner::Run(size_t target) {
  auto later = [this](const Entry& a, const Entry& b) { return Before(b, a); };
  while (tokens_.size() < target && !heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    const Entry top = heap_.back();
    heap_.pop_back();
    auto it = pair_counts_.find(top.pair);
    if (top.count <= 0 || it == pair_counts_.end() || it->second != top.count) continue;
    const std::string merged = tokens_[Left(top.pair)] + tokens_[Right(top.pair)];
    auto [id_it, inserted] = token_ids_.try_emplace(merged, static_cast<int32_t>(tokens_.size()));
    if (inserted) tokens_.push_back(merged);
    merges_.emplace_back(Left(top.pair), Right(top.pair));
    std::vector<size_t> affected(pair_words_[top.pair].begin(), pair_words_[top.pair].end());
    std::sort(affected.begin(), affected.end());
    for (size_t word : affected) MergeWord(word, top.pair, id_it->second);
    pair_counts_.erase(top.pair);
    pair_words_.erase(top.pair);
  }
}

// Base vocab: byte-level -> the 256 byte characters; metaspace -> <0x00>..<0xFF> and then the
// most frequent characters (ties in byte order), at most half of the room left for merges so
// that small vocabularies still learn words; rarer characters use byte fallback.
std::vector<std::string> BaseVocab(TokenizerStyle style,
                                   const std::map<std::string, int64_t>& words,
                                   int64_t model_size) {
  std::vector<std::string> base;
  for (int b = 0; b < 256; ++b) {
    base.emplace_back(style == TokenizerStyle::kByteLevel
                          ? std::string(ByteLevelChar(static_cast<uint8_t>(b)))
                          : absl::StrFormat("<0x%02X>", b));
  }
  if (style == TokenizerStyle::kMetaspace) {
    std::map<std::string, int64_t> chars;
    for (const auto& [word, count] : words) {
      for (std::string_view ch : SplitUtf8Chars(word)) chars[std::string(ch)] += count;
    }
    std::vector<std::pair<int64_t, std::string>> ranked;
    for (const auto& [ch, count] : chars) ranked.emplace_back(-count, ch);
    std::sort(ranked.begin(), ranked.end());
    const int64_t budget = std::max<int64_t>(0, (model_size - 256) / 2);
    for (int64_t i = 0; i < budget && i < static_cast<int64_t>(ranked.size()); ++i) {
      base.push_back(ranked[i].second);
    }
  }
  return base;
}

Json AddedTokensJson(const std::vector<std::string>& specials, int32_t first_id) {
  Json list = Json::array();
  for (size_t i = 0; i < specials.size(); ++i) {
    list.push_back({{"id", first_id + static_cast<int32_t>(i)},
                    {"content", specials[i]},
                    {"single_word", false},
                    {"lstrip", false},
                    {"rstrip", false},
                    {"normalized", false},
                    {"special", true}});
  }
  return list;
}

Json TemplateJson(const std::string& bos, int32_t bos_id) {
  auto special = [&](int type_id) {
    return Json{{"SpecialToken", {{"id", bos}, {"type_id", type_id}}}};
  };
  auto sequence = [](const char* id, int type_id) {
    return Json{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
  };
  return Json{{"type", "TemplateProcessing"},
              {"single", {special(0), sequence("A", 0)}},
              {"pair", {special(0), sequence("A", 0), special(1), sequence("B", 1)}},
              {"special_tokens", {{bos, {{"id", bos}, {"ids", {bos_id}}, {"tokens", {bos}}}}}}};
}

Json ByteLevelJson(bool add_prefix_space, bool trim_offsets, bool use_regex) {
  return Json{{"type", "ByteLevel"},
              {"add_prefix_space", add_prefix_space},
              {"trim_offsets", trim_offsets},
              {"use_regex", use_regex}};
}

// Normalizer, pre-tokenizer, post-processor and decoder of the style.
void AddPipelineJson(TokenizerStyle style, const Json& template_json, Json* root) {
  if (style == TokenizerStyle::kByteLevel) {
    (*root)["normalizer"] = nullptr;
    (*root)["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", kLlama3Pattern}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          ByteLevelJson(false, true, false)}}};
    Json processors = Json::array({ByteLevelJson(true, false, true)});
    if (!template_json.is_null()) processors.push_back(template_json);
    (*root)["post_processor"] = {{"type", "Sequence"}, {"processors", processors}};
    (*root)["decoder"] = ByteLevelJson(true, true, true);
    return;
  }
  (*root)["normalizer"] = {
      {"type", "Sequence"},
      {"normalizers",
       {{{"type", "Prepend"}, {"prepend", kMetaspace}},
        {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMetaspace}}}}};
  (*root)["pre_tokenizer"] = nullptr;
  (*root)["post_processor"] = template_json;
  (*root)["decoder"] = {
      {"type", "Sequence"},
      {"decoders",
       {{{"type", "Replace"}, {"pattern", {{"String", kMetaspace}}}, {"content", " "}},
        {{"type", "ByteFallback"}},
        {{"type", "Fuse"}},
        {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
}

Json ModelJson(const BpeTrainerOptions& options, const MergeLearner& learner,
               const std::vector<std::string>& specials) {
  const bool metaspace = options.style == TokenizerStyle::kMetaspace;
  const auto& tokens = learner.vocab();
  const bool has_unk = std::find(specials.begin(), specials.end(), "<unk>") != specials.end();
  Json vocab = Json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = static_cast<int32_t>(i);
  for (size_t i = 0; i < specials.size(); ++i) {
    vocab[specials[i]] = static_cast<int32_t>(tokens.size() + i);
  }
  Json merges = Json::array();
  for (const auto& [left, right] : learner.merges()) {
    merges.push_back(absl::StrCat(tokens[left], " ", tokens[right]));
  }
  return Json{{"type", "BPE"},
              {"dropout", nullptr},
              {"unk_token", metaspace && has_unk ? Json("<unk>") : Json(nullptr)},
              {"continuing_subword_prefix", nullptr},
              {"end_of_word_suffix", nullptr},
              {"fuse_unk", metaspace},
              {"byte_fallback", metaspace},
              {"ignore_merges", !metaspace},
              {"vocab", vocab},
              {"merges", merges}};
}

absl::Status ValidateSpecials(const BpeTrainerOptions& options,
                              const std::vector<std::string>& base) {
  absl::flat_hash_set<std::string> seen(base.begin(), base.end());
  for (const std::string& special : options.special_tokens) {
    if (special.empty() || !IsValidUtf8(special) || !seen.insert(special).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("special token '", special, "' is empty, not UTF-8, or a duplicate"));
    }
  }
  if (options.bos_token.has_value() &&
      std::find(options.special_tokens.begin(), options.special_tokens.end(),
                *options.bos_token) == options.special_tokens.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bos_token '", *options.bos_token, "' is not one of special_tokens"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> TrainBpeTokenizerJson(const BpeTrainerOptions& options) {
  const std::string corpus =
      options.corpus.empty() ? std::string(BuiltinCorpus()) : options.corpus;
  if (!IsValidUtf8(corpus)) return absl::InvalidArgumentError("training corpus is not UTF-8");
  ASSIGN_OR_RETURN(auto words, CountWords(options.style, corpus));
  const int64_t model_size = static_cast<int64_t>(options.vocab_size) -
                             static_cast<int64_t>(options.special_tokens.size());
  std::vector<std::string> base = BaseVocab(options.style, words, model_size);
  RETURN_IF_ERROR(ValidateSpecials(options, base));
  if (model_size < static_cast<int64_t>(base.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vocab_size ", options.vocab_size, " is below the base vocabulary (", base.size(),
        ") plus ", options.special_tokens.size(), " special tokens"));
  }
  MergeLearner learner(std::move(base), words);
  learner.Run(static_cast<size_t>(model_size));
  if (static_cast<int64_t>(learner.vocab().size()) < model_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("the corpus supports at most ", learner.vocab().size(),
                     " model tokens; vocab_size ", options.vocab_size, " is too large"));
  }
  const int32_t first_special = static_cast<int32_t>(learner.vocab().size());
  Json template_json = nullptr;
  if (options.bos_token.has_value()) {
    const auto pos = std::find(options.special_tokens.begin(), options.special_tokens.end(),
                               *options.bos_token) - options.special_tokens.begin();
    template_json = TemplateJson(*options.bos_token, first_special + static_cast<int32_t>(pos));
  }
  Json root = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}};
  root["added_tokens"] = AddedTokensJson(options.special_tokens, first_special);
  AddPipelineJson(options.style, template_json, &root);
  root["model"] = ModelJson(options, learner, options.special_tokens);
  return root.dump(-1, ' ', false) + "\n";
}

}  // namespace tspserve
