// The trainer settings behind the checked-in golden tokenizers (tests/golden/tokenizer/data).
// Shared by write_trained_tokenizer (which make_tokenizer_golden.py calls) and the determinism
// test, so both always train the same thing.
#pragma once

#include <optional>
#include <string_view>

#include "models/tokenizer/bpe_trainer.h"

namespace tspserve {

// "trained_bytelevel" or "trained_metaspace"; nullopt for other names.
inline std::optional<BpeTrainerOptions> GoldenTrainerOptions(std::string_view name) {
  BpeTrainerOptions options;
  if (name == "trained_bytelevel") {
    options.style = TokenizerStyle::kByteLevel;
    options.vocab_size = 700;
    options.special_tokens = {"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"};
    options.bos_token = "<|begin_of_text|>";
    return options;
  }
  if (name == "trained_metaspace") {
    options.style = TokenizerStyle::kMetaspace;
    options.vocab_size = 1000;
    options.special_tokens = {"<unk>", "<s>", "</s>"};
    options.bos_token = "<s>";
    return options;
  }
  return std::nullopt;
}

}  // namespace tspserve
