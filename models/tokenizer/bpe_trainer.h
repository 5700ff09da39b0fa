// Deterministic BPE training on a small corpus, producing a complete tokenizer.json that our
// Tokenizer and Hugging Face tokenizers/transformers both load. Used to make test tokenizers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tspserve {

enum class TokenizerStyle {
  kByteLevel,  // Llama 3 / Qwen2: regex Split + ByteLevel, 256 byte symbols as the base vocab
  kMetaspace,  // Llama 2: "▁" for spaces, <0x00>..<0xFF> byte fallback plus the corpus characters
};

struct BpeTrainerOptions {
  TokenizerStyle style = TokenizerStyle::kByteLevel;
  // Total ids, including the special tokens and (metaspace) the 256 <0xNN> tokens.
  int32_t vocab_size = 1024;
  // Appended after the model vocab, in order ("<unk>" becomes the model's unk token).
  std::vector<std::string> special_tokens;
  // Prepended by the post-processor when set; must be one of special_tokens.
  std::optional<std::string> bos_token;
  std::string corpus;  // valid UTF-8; empty -> BuiltinCorpus()
};

// Merges are chosen by pair frequency, ties broken by the pair's token strings, so the output is
// byte-for-byte reproducible. Fails when vocab_size is smaller than the base vocabulary plus the
// specials, or larger than the corpus can fill.
absl::StatusOr<std::string> TrainBpeTokenizerJson(const BpeTrainerOptions& options);

}  // namespace tspserve
