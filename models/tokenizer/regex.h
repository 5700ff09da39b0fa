// A compiled PCRE2 pattern in UTF + UCP mode (\p{L}, \s and friends follow Unicode), used by the
// Split pre-tokenizer and Replace normalizer/decoder. Thread-safe: matching state is per call.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

struct pcre2_real_code_8;

namespace tspserve {

class Regex {
 public:
  // `literal` treats the pattern as a plain string (tokenizer.json's {"String": ...}).
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(std::string_view pattern, bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping, non-empty matches from left to right as [begin, end) byte offsets.
  // Ill-formed UTF-8 in `text` is never part of a match.
  std::vector<std::pair<size_t, size_t>> FindAll(std::string_view text) const;

  std::string ReplaceAll(std::string_view text, std::string_view replacement) const;

 private:
  explicit Regex(pcre2_real_code_8* code) : code_(code) {}
  pcre2_real_code_8* code_;
};

}  // namespace tspserve
