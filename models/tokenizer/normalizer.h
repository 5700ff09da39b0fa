// Normalizers rewrite the text of one segment (the text between added tokens) before it is
// pre-tokenized. Only what Llama/Mistral/Qwen tokenizer.json files use is implemented.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "models/tokenizer/regex.h"

namespace tspserve {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string Normalize(std::string_view text) const = 0;
};

// Prepends `prefix` to non-empty text (Llama 2: "▁").
class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string Normalize(std::string_view text) const override;

 private:
  std::string prefix_;
};

// Replaces every match of `pattern` with `content`.
class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(std::unique_ptr<Regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::string Normalize(std::string_view text) const override;

 private:
  std::unique_ptr<Regex> pattern_;
  std::string content_;
};

// Removes Unicode whitespace from the left and/or right end.
class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  std::string Normalize(std::string_view text) const override;

 private:
  bool left_;
  bool right_;
};

// NFC. Text that is already composed, which is what editors, browsers and chat front ends send,
// passes unchanged; decomposed sequences are NOT composed (no Unicode tables are linked), so such
// input can tokenize differently from Hugging Face.
class NfcNormalizer : public Normalizer {
 public:
  std::string Normalize(std::string_view text) const override { return std::string(text); }
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps)
      : steps_(std::move(steps)) {}
  std::string Normalize(std::string_view text) const override;

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace tspserve
