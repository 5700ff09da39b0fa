#include "models/tokenizer/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"
#include "models/tokenizer/utf8.h"

namespace tspserve {
namespace {

using Json = nlohmann::json;

absl::Status FieldError(const std::string& path, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", std::string(what)));
}

absl::Status Unsupported(const std::string& path, std::string_view kind, const std::string& type) {
  return FieldError(path, absl::StrCat("unsupported ", std::string(kind), " type '", type, "'"));
}

std::string Sub(const std::string& path, std::string_view key) {
  return absl::StrCat(path, ".", std::string(key));
}
std::string Sub(const std::string& path, size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

absl::StatusOr<bool> GetBool(const Json& obj, const char* key, bool fallback,
                             const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return FieldError(Sub(path, key), "expected a boolean");
  return it->get<bool>();
}

absl::StatusOr<int64_t> GetInt(const Json& obj, const char* key, int64_t fallback,
                               const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) return FieldError(Sub(path, key), "expected an integer");
  return it->get<int64_t>();
}

absl::StatusOr<std::optional<std::string>> GetOptionalString(const Json& obj, const char* key,
                                                             const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return FieldError(Sub(path, key), "expected a string");
  return std::optional<std::string>(it->get<std::string>());
}

absl::StatusOr<std::string> GetString(const Json& obj, const char* key, const std::string& path) {
  ASSIGN_OR_RETURN(std::optional<std::string> value, GetOptionalString(obj, key, path));
  if (!value.has_value()) return FieldError(Sub(path, key), "missing");
  return *value;
}

absl::StatusOr<const Json*> GetArray(const Json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) return FieldError(Sub(path, key), "expected an array");
  return &*it;
}

// The component's "type"; `path` must name an object.
absl::StatusOr<std::string> GetType(const Json& obj, const std::string& path) {
  if (!obj.is_object()) return FieldError(path, "expected an object");
  return GetString(obj, "type", path);
}

// {"String": "..."} or {"Regex": "..."}.
absl::StatusOr<std::unique_ptr<Regex>> ParsePattern(const Json& obj, const std::string& path) {
  auto it = obj.find("pattern");
  if (it == obj.end() || !it->is_object()) return FieldError(Sub(path, "pattern"), "missing");
  const bool literal = it->contains("String");
  const char* key = literal ? "String" : "Regex";
  ASSIGN_OR_RETURN(std::string pattern, GetString(*it, key, Sub(path, "pattern")));
  absl::StatusOr<std::unique_ptr<Regex>> regex = Regex::Compile(pattern, literal);
  if (!regex.ok()) return Annotate(regex.status(), Sub(path, "pattern"));
  return regex;
}

absl::StatusOr<std::unique_ptr<Normalizer>> ParseNormalizer(const Json& obj,
                                                            const std::string& path) {
  ASSIGN_OR_RETURN(std::string type, GetType(obj, path));
  if (type == "Sequence") {
    ASSIGN_OR_RETURN(const Json* list, GetArray(obj, "normalizers", path));
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < list->size(); ++i) {
      ASSIGN_OR_RETURN(auto step, ParseNormalizer((*list)[i], Sub(Sub(path, "normalizers"), i)));
      steps.push_back(std::move(step));
    }
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  if (type == "Prepend") {
    ASSIGN_OR_RETURN(std::string prefix, GetString(obj, "prepend", path));
    return std::make_unique<PrependNormalizer>(std::move(prefix));
  }
  if (type == "Replace") {
    ASSIGN_OR_RETURN(auto pattern, ParsePattern(obj, path));
    ASSIGN_OR_RETURN(std::string content, GetString(obj, "content", path));
    return std::make_unique<ReplaceNormalizer>(std::move(pattern), std::move(content));
  }
  if (type == "Strip") {
    ASSIGN_OR_RETURN(bool left, GetBool(obj, "strip_left", true, path));
    ASSIGN_OR_RETURN(bool right, GetBool(obj, "strip_right", true, path));
    return std::make_unique<StripNormalizer>(left, right);
  }
  if (type == "NFC") return std::make_unique<NfcNormalizer>();
  return Unsupported(path, "normalizer", type);
}

absl::StatusOr<SplitBehavior> ParseBehavior(const Json& obj, const std::string& path) {
  ASSIGN_OR_RETURN(std::string name, GetString(obj, "behavior", path));
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return FieldError(Sub(path, "behavior"), absl::StrCat("unknown behavior '", name, "'"));
}

// prepend_scheme, or the older add_prefix_space flag.
absl::StatusOr<PrependScheme> ParsePrependScheme(const Json& obj, const std::string& path) {
  ASSIGN_OR_RETURN(std::optional<std::string> scheme,
                   GetOptionalString(obj, "prepend_scheme", path));
  if (!scheme.has_value()) {
    ASSIGN_OR_RETURN(bool add_prefix_space, GetBool(obj, "add_prefix_space", true, path));
    return add_prefix_space ? PrependScheme::kAlways : PrependScheme::kNever;
  }
  if (*scheme == "always") return PrependScheme::kAlways;
  if (*scheme == "first") return PrependScheme::kFirst;
  if (*scheme == "never") return PrependScheme::kNever;
  return FieldError(Sub(path, "prepend_scheme"), absl::StrCat("unknown scheme '", *scheme, "'"));
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const Json& obj,
                                                                const std::string& path);

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParsePreTokenizerSequence(const Json& obj,
                                                                        const std::string& path) {
  ASSIGN_OR_RETURN(const Json* list, GetArray(obj, "pretokenizers", path));
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  for (size_t i = 0; i < list->size(); ++i) {
    ASSIGN_OR_RETURN(auto step,
                     ParsePreTokenizer((*list)[i], Sub(Sub(path, "pretokenizers"), i)));
    steps.push_back(std::move(step));
  }
  return std::make_unique<SequencePreTokenizer>(std::move(steps));
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const Json& obj,
                                                                const std::string& path) {
  ASSIGN_OR_RETURN(std::string type, GetType(obj, path));
  if (type == "Sequence") return ParsePreTokenizerSequence(obj, path);
  if (type == "Split") {
    ASSIGN_OR_RETURN(auto pattern, ParsePattern(obj, path));
    ASSIGN_OR_RETURN(SplitBehavior behavior, ParseBehavior(obj, path));
    ASSIGN_OR_RETURN(bool invert, GetBool(obj, "invert", false, path));
    return std::make_unique<SplitPreTokenizer>(std::move(pattern), behavior, invert);
  }
  if (type == "ByteLevel") {
    ASSIGN_OR_RETURN(bool add_prefix_space, GetBool(obj, "add_prefix_space", true, path));
    ASSIGN_OR_RETURN(bool use_regex, GetBool(obj, "use_regex", true, path));
    std::unique_ptr<Regex> regex;
    if (use_regex) {
      ASSIGN_OR_RETURN(regex, Regex::Compile(ByteLevelPreTokenizer::kGpt2Pattern, false));
    }
    return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, std::move(regex));
  }
  if (type == "Metaspace") {
    ASSIGN_OR_RETURN(std::string replacement, GetString(obj, "replacement", path));
    ASSIGN_OR_RETURN(PrependScheme scheme, ParsePrependScheme(obj, path));
    ASSIGN_OR_RETURN(bool split, GetBool(obj, "split", true, path));
    return std::make_unique<MetaspacePreTokenizer>(std::move(replacement), scheme, split);
  }
  if (type == "Digits") {
    ASSIGN_OR_RETURN(bool individual, GetBool(obj, "individual_digits", false, path));
    ASSIGN_OR_RETURN(auto regex, Regex::Compile("[0-9]", false));
    return std::make_unique<SplitPreTokenizer>(
        std::move(regex), individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous,
        false);
  }
  return Unsupported(path, "pre_tokenizer", type);
}

absl::StatusOr<std::unique_ptr<Decoder>> ParseDecoder(const Json& obj, const std::string& path) {
  ASSIGN_OR_RETURN(std::string type, GetType(obj, path));
  if (type == "Sequence") {
    ASSIGN_OR_RETURN(const Json* list, GetArray(obj, "decoders", path));
    std::vector<std::unique_ptr<Decoder>> steps;
    for (size_t i = 0; i < list->size(); ++i) {
      ASSIGN_OR_RETURN(auto step, ParseDecoder((*list)[i], Sub(Sub(path, "decoders"), i)));
      steps.push_back(std::move(step));
    }
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Replace") {
    ASSIGN_OR_RETURN(auto pattern, ParsePattern(obj, path));
    ASSIGN_OR_RETURN(std::string content, GetString(obj, "content", path));
    return std::make_unique<ReplaceDecoder>(std::move(pattern), std::move(content));
  }
  if (type == "Strip") {
    ASSIGN_OR_RETURN(std::string content, GetString(obj, "content", path));
    ASSIGN_OR_RETURN(int64_t start, GetInt(obj, "start", 0, path));
    ASSIGN_OR_RETURN(int64_t stop, GetInt(obj, "stop", 0, path));
    if (content.empty() || start < 0 || stop < 0) return FieldError(path, "bad Strip decoder");
    return std::make_unique<StripDecoder>(std::move(content), static_cast<int>(start),
                                          static_cast<int>(stop));
  }
  if (type == "Metaspace") {
    ASSIGN_OR_RETURN(std::string replacement, GetString(obj, "replacement", path));
    ASSIGN_OR_RETURN(PrependScheme scheme, ParsePrependScheme(obj, path));
    return std::make_unique<MetaspaceDecoder>(std::move(replacement),
                                              scheme != PrependScheme::kNever);
  }
  return Unsupported(path, "decoder", type);
}

absl::StatusOr<std::unique_ptr<PostProcessor>> ParsePostProcessor(const Json& obj,
                                                                  const std::string& path);

// TemplateProcessing's "single" template; special token names resolve through "special_tokens".
absl::StatusOr<std::unique_ptr<PostProcessor>> ParseTemplate(const Json& obj,
                                                             const std::string& path) {
  ASSIGN_OR_RETURN(const Json* single, GetArray(obj, "single", path));
  auto specials = obj.find("special_tokens");
  std::vector<TemplatePostProcessor::Item> items;
  for (size_t i = 0; i < single->size(); ++i) {
    const Json& item = (*single)[i];
    const std::string item_path = Sub(Sub(path, "single"), i);
    if (item.contains("Sequence")) {
      items.push_back({true, {}});
      continue;
    }
    if (!item.contains("SpecialToken")) return FieldError(item_path, "unknown template item");
    ASSIGN_OR_RETURN(std::string name, GetString(item["SpecialToken"], "id", item_path));
    if (specials == obj.end() || !specials->is_object() || !specials->contains(name)) {
      return FieldError(Sub(path, "special_tokens"), absl::StrCat("missing '", name, "'"));
    }
    const Json& ids = (*specials)[name]["ids"];
    if (!ids.is_array()) return FieldError(Sub(Sub(path, "special_tokens"), name), "no ids");
    items.push_back({false, ids.get<std::vector<int32_t>>()});
  }
  return std::make_unique<TemplatePostProcessor>(std::move(items));
}

absl::StatusOr<std::unique_ptr<PostProcessor>> ParsePostProcessor(const Json& obj,
                                                                  const std::string& path) {
  ASSIGN_OR_RETURN(std::string type, GetType(obj, path));
  if (type == "TemplateProcessing") return ParseTemplate(obj, path);
  if (type == "ByteLevel") return std::make_unique<IdentityPostProcessor>();
  if (type == "Sequence") {
    ASSIGN_OR_RETURN(const Json* list, GetArray(obj, "processors", path));
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (size_t i = 0; i < list->size(); ++i) {
      ASSIGN_OR_RETURN(auto step, ParsePostProcessor((*list)[i], Sub(Sub(path, "processors"), i)));
      steps.push_back(std::move(step));
    }
    return std::make_unique<SequencePostProcessor>(std::move(steps));
  }
  return Unsupported(path, "post_processor", type);
}

// One entry of model.merges: "left right" or ["left", "right"].
absl::StatusOr<std::pair<std::string, std::string>> ParseMerge(const Json& merge,
                                                               const std::string& path) {
  if (merge.is_string()) {
    const std::string text = merge.get<std::string>();
    const size_t space = text.find(' ');
    if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
      return FieldError(path, "expected two tokens separated by one space");
    }
    return std::make_pair(text.substr(0, space), text.substr(space + 1));
  }
  if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
    return std::make_pair(merge[0].get<std::string>(), merge[1].get<std::string>());
  }
  return FieldError(path, "expected \"a b\" or [\"a\", \"b\"]");
}

absl::StatusOr<std::unique_ptr<BpeModel>> ParseModel(const Json& root) {
  const std::string path = "model";
  auto model = root.find("model");
  if (model == root.end() || !model->is_object()) return FieldError(path, "missing");
  const std::string type = model->value("type", "BPE");
  if (type != "BPE") return Unsupported(Sub(path, "type"), "model", type);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    ASSIGN_OR_RETURN(std::optional<std::string> affix, GetOptionalString(*model, key, path));
    if (affix.has_value() && !affix->empty()) return FieldError(Sub(path, key), "unsupported");
  }
  BpeModelOptions options;
  auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object()) {
    return FieldError(Sub(path, "vocab"), "missing");
  }
  for (const auto& [token, id] : vocab->items()) {
    if (!id.is_number_integer()) return FieldError(Sub(Sub(path, "vocab"), token), "bad id");
    options.vocab.emplace_back(token, id.get<int32_t>());
  }
  ASSIGN_OR_RETURN(const Json* merges, GetArray(*model, "merges", path));
  for (size_t i = 0; i < merges->size(); ++i) {
    ASSIGN_OR_RETURN(auto merge, ParseMerge((*merges)[i], Sub(Sub(path, "merges"), i)));
    options.merges.push_back(std::move(merge));
  }
  ASSIGN_OR_RETURN(options.unk_token, GetOptionalString(*model, "unk_token", path));
  ASSIGN_OR_RETURN(options.fuse_unk, GetBool(*model, "fuse_unk", false, path));
  ASSIGN_OR_RETURN(options.byte_fallback, GetBool(*model, "byte_fallback", false, path));
  ASSIGN_OR_RETURN(options.ignore_merges, GetBool(*model, "ignore_merges", false, path));
  absl::StatusOr<std::unique_ptr<BpeModel>> bpe = BpeModel::Create(std::move(options));
  if (!bpe.ok()) return Annotate(bpe.status(), path);
  return bpe;
}

absl::StatusOr<AddedVocabulary> ParseAddedTokens(const Json& root) {
  std::vector<AddedToken> tokens;
  auto list = root.find("added_tokens");
  if (list == root.end() || list->is_null()) return AddedVocabulary();
  if (!list->is_array()) return FieldError("added_tokens", "expected an array");
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& item = (*list)[i];
    const std::string path = Sub("added_tokens", i);
    if (!item.is_object()) return FieldError(path, "expected an object");
    AddedToken token;
    ASSIGN_OR_RETURN(int64_t id, GetInt(item, "id", -1, path));
    if (id < 0 || id > INT32_MAX) return FieldError(Sub(path, "id"), "missing or out of range");
    token.id = static_cast<int32_t>(id);
    ASSIGN_OR_RETURN(token.content, GetString(item, "content", path));
    ASSIGN_OR_RETURN(token.special, GetBool(item, "special", false, path));
    ASSIGN_OR_RETURN(token.lstrip, GetBool(item, "lstrip", false, path));
    ASSIGN_OR_RETURN(token.rstrip, GetBool(item, "rstrip", false, path));
    ASSIGN_OR_RETURN(token.normalized, GetBool(item, "normalized", !token.special, path));
    tokens.push_back(std::move(token));
  }
  return AddedVocabulary(std::move(tokens));
}

// Calls parse(root[key], key) unless the field is absent or null.
template <typename T, typename ParseFn>
absl::Status ParseOptional(const Json& root, const char* key, ParseFn parse,
                           std::unique_ptr<T>* out) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return absl::OkStatus();
  ASSIGN_OR_RETURN(*out, parse(*it, std::string(key)));
  return absl::OkStatus();
}

absl::StatusOr<TokenizerParts> ParseRoot(const Json& root) {
  if (!root.is_object()) return FieldError("(root)", "expected an object");
  TokenizerParts parts;
  ASSIGN_OR_RETURN(parts.model, ParseModel(root));
  ASSIGN_OR_RETURN(parts.added, ParseAddedTokens(root));
  RETURN_IF_ERROR(ParseOptional(root, "normalizer", ParseNormalizer, &parts.normalizer));
  RETURN_IF_ERROR(ParseOptional(root, "pre_tokenizer", ParsePreTokenizer, &parts.pre_tokenizer));
  RETURN_IF_ERROR(
      ParseOptional(root, "post_processor", ParsePostProcessor, &parts.post_processor));
  RETURN_IF_ERROR(ParseOptional(root, "decoder", ParseDecoder, &parts.decoder));
  if (parts.decoder == nullptr) parts.decoder = std::make_unique<SpaceJoinDecoder>();
  return parts;
}

}  // namespace

absl::StatusOr<TokenizerParts> ParseTokenizerJson(std::string_view json) {
  try {
    const Json root = Json::parse(json.begin(), json.end());
    return ParseRoot(root);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid tokenizer JSON: ", e.what()));
  }
}

}  // namespace tspserve
