#include "models/config/json_fields.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"

namespace tspserve {
namespace {

using Json = nlohmann::json;

// A short rendering of a value for error messages.
std::string Show(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = absl::StrCat(text.substr(0, 57), "...");
  return text;
}

}  // namespace

JsonFields::JsonFields(Json object, std::string file, std::string prefix)
    : object_(std::move(object)), file_(std::move(file)), prefix_(std::move(prefix)) {}

absl::StatusOr<JsonFields> JsonFields::Parse(std::string_view text, std::string file) {
  Json object;
  try {
    object = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": invalid JSON: ", e.what()));
  }
  if (!object.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": expected a JSON object, got ", Show(object)));
  }
  return JsonFields(std::move(object), std::move(file), "");
}

bool JsonFields::Has(const char* field) const { return object_.contains(field); }

bool JsonFields::HasValue(const char* field) const {
  auto it = object_.find(field);
  return it != object_.end() && !it->is_null();
}

absl::Status JsonFields::Error(const char* field, std::string_view what) const {
  return absl::InvalidArgumentError(
      absl::StrCat(file_, ": field \"", prefix_, field, "\" ", std::string(what)));
}

absl::Status JsonFields::Unsupported(const char* field, std::string_view value) const {
  return absl::UnimplementedError(absl::StrCat(file_, ": field \"", prefix_, field,
                                               "\" = ", std::string(value), " is not supported"));
}

absl::Status JsonFields::Mistyped(const char* field, std::string_view expected) const {
  if (!HasValue(field))
    return Error(field, absl::StrCat("is missing (expected ", std::string(expected), ")"));
  return Error(field,
               absl::StrCat("must be ", std::string(expected), ", got ", Show(object_.at(field))));
}

absl::StatusOr<std::string> JsonFields::String(const char* field) const {
  if (!HasValue(field) || !object_.at(field).is_string()) return Mistyped(field, "a string");
  return object_.at(field).get<std::string>();
}

absl::StatusOr<std::vector<std::string>> JsonFields::StringList(const char* field) const {
  if (!HasValue(field) || !object_.at(field).is_array()) {
    return Mistyped(field, "a list of strings");
  }
  std::vector<std::string> list;
  for (const Json& item : object_.at(field)) {
    if (!item.is_string()) return Mistyped(field, "a list of strings");
    list.push_back(item.get<std::string>());
  }
  return list;
}

absl::StatusOr<int64_t> JsonFields::Int(const char* field, int64_t min,
                                        std::string_view expected) const {
  if (!HasValue(field)) return Mistyped(field, expected);
  const Json& value = object_.at(field);
  if (value.is_number_unsigned()) {
    if (value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Mistyped(field, expected);
    }
  } else if (!value.is_number_integer()) {
    return Mistyped(field, expected);
  }
  const int64_t v = value.get<int64_t>();
  if (v < min) return Mistyped(field, expected);
  return v;
}

absl::StatusOr<int64_t> JsonFields::PositiveInt(const char* field) const {
  return Int(field, 1, "a positive integer");
}

absl::StatusOr<double> JsonFields::PositiveDouble(const char* field) const {
  if (!HasValue(field) || !object_.at(field).is_number() || object_.at(field).get<double>() <= 0) {
    return Mistyped(field, "a positive number");
  }
  return object_.at(field).get<double>();
}

absl::StatusOr<int64_t> JsonFields::TokenId(const char* field) const {
  ASSIGN_OR_RETURN(int64_t id, Int(field, 0, "a token id (a non-negative integer)"));
  if (id > std::numeric_limits<int32_t>::max()) {
    return Mistyped(field, "a token id below 2^31");
  }
  return id;
}

absl::StatusOr<std::vector<int64_t>> JsonFields::TokenIdOrList(const char* field) const {
  if (!HasValue(field) || !object_.at(field).is_array()) {
    ASSIGN_OR_RETURN(int64_t id, TokenId(field));
    return std::vector<int64_t>{id};
  }
  std::vector<int64_t> ids;
  for (const Json& item : object_.at(field)) {
    JsonFields single(Json{{field, item}}, file_, prefix_);
    ASSIGN_OR_RETURN(int64_t id, single.TokenId(field));
    ids.push_back(id);
  }
  return ids;
}

absl::StatusOr<JsonFields> JsonFields::Object(const char* field) const {
  if (!HasValue(field) || !object_.at(field).is_object()) return Mistyped(field, "an object");
  return JsonFields(object_.at(field), file_, absl::StrCat(prefix_, field, "."));
}

absl::StatusOr<std::string> JsonFields::StringOr(const char* field, std::string fallback) const {
  if (!HasValue(field)) return fallback;
  return String(field);
}

absl::StatusOr<int64_t> JsonFields::PositiveIntOr(const char* field, int64_t fallback) const {
  if (!HasValue(field)) return fallback;
  return PositiveInt(field);
}

absl::StatusOr<int64_t> JsonFields::NonNegativeIntOr(const char* field, int64_t fallback) const {
  if (!HasValue(field)) return fallback;
  return Int(field, 0, "a non-negative integer");
}

absl::StatusOr<double> JsonFields::PositiveDoubleOr(const char* field, double fallback) const {
  if (!HasValue(field)) return fallback;
  return PositiveDouble(field);
}

absl::StatusOr<bool> JsonFields::BoolOr(const char* field, bool fallback) const {
  if (!HasValue(field)) return fallback;
  if (!object_.at(field).is_boolean()) return Mistyped(field, "true or false");
  return object_.at(field).get<bool>();
}

}  // namespace tspserve
