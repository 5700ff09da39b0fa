// Typed, validated access to the fields of one JSON object read from a named file, so that
// every error names the file and the field ("m/config.json: field \"hidden_size\" ...").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tspserve {

class JsonFields {
 public:
  // Parses `text`, which must hold a JSON object. `file` names it in errors.
  static absl::StatusOr<JsonFields> Parse(std::string_view text, std::string file);

  const std::string& file() const { return file_; }
  bool Has(const char* field) const;       // present, possibly null
  bool HasValue(const char* field) const;  // present and not null

  // Required fields: absent, null or mistyped is an error.
  absl::StatusOr<std::string> String(const char* field) const;
  absl::StatusOr<std::vector<std::string>> StringList(const char* field) const;
  absl::StatusOr<int64_t> PositiveInt(const char* field) const;
  absl::StatusOr<double> PositiveDouble(const char* field) const;
  absl::StatusOr<int64_t> TokenId(const char* field) const;  // in [0, 2^31)
  absl::StatusOr<std::vector<int64_t>> TokenIdOrList(const char* field) const;
  // A nested object; its fields are named "<field>.<name>" in errors.
  absl::StatusOr<JsonFields> Object(const char* field) const;

  // Optional fields: `fallback` when absent or null, an error when mistyped.
  absl::StatusOr<std::string> StringOr(const char* field, std::string fallback) const;
  absl::StatusOr<int64_t> PositiveIntOr(const char* field, int64_t fallback) const;
  absl::StatusOr<int64_t> NonNegativeIntOr(const char* field, int64_t fallback) const;
  absl::StatusOr<double> PositiveDoubleOr(const char* field, double fallback) const;
  absl::StatusOr<bool> BoolOr(const char* field, bool fallback) const;

  // InvalidArgument "<file>: field \"<prefix><field>\" <what>".
  absl::Status Error(const char* field, std::string_view what) const;
  // Unimplemented: a valid value tspserve does not serve.
  absl::Status Unsupported(const char* field, std::string_view value) const;

 private:
  JsonFields(nlohmann::json object, std::string file, std::string prefix);

  absl::StatusOr<int64_t> Int(const char* field, int64_t min, std::string_view expected) const;
  absl::Status Mistyped(const char* field, std::string_view expected) const;

  nlohmann::json object_;
  std::string file_;
  std::string prefix_;  // "rope_scaling." for a nested object
};

}  // namespace tspserve
