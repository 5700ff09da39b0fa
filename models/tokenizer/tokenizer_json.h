// Parsing of a Hugging Face tokenizer.json into tokenizer components.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "models/tokenizer/tokenizer.h"

namespace tspserve {

// Errors name the JSON field ("pre_tokenizer.pretokenizers[0].pattern") and, for components we
// do not implement, their type ("unsupported model type 'WordPiece'").
absl::StatusOr<TokenizerParts> ParseTokenizerJson(std::string_view json);

}  // namespace tspserve
