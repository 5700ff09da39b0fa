// The benchmark's prompts: random token ids of random lengths, the same with a shared prefix, or
// a JSONL file of text prompts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tspserve::tspload {

// One request's input. Exactly one of token_ids and text is set.
struct Prompt {
  std::vector<int32_t> token_ids;  // sent as token_ids input
  std::string text;                // sent as text input (JSONL prompts)
  int prompt_len = 0;              // tokens when known before sending; 0 for text
  int max_tokens = 0;              // >= 1
};

// Inclusive length bounds [floor(len * (1 - ratio)), floor(len * (1 + ratio))], at least 1.
struct LengthRange {
  int low = 1;
  int high = 1;
};
LengthRange RangeAround(int len, double range_ratio);

// Token ids drawn uniformly from [low, high) minus `excluded` (EOS, BOS): ids a random prompt can
// use without hitting special tokens, which tokenizers keep at the bottom or top of the vocabulary.
struct TokenIdRange {
  int32_t low = 0;
  int32_t high = 0;
  std::vector<int32_t> excluded;
};
// The middle of a vocabulary of `vocab_size` ids: [min(100, V/10), V - max(1, V/10)).
// vocab_size < 4 is an error.
absl::StatusOr<TokenIdRange> SafeTokenIds(int64_t vocab_size, std::vector<int32_t> excluded);

struct RandomDatasetOptions {
  int num_prompts = 0;
  int input_len = 0;        // the random part, before the prefix
  int output_len = 0;
  double range_ratio = 0;   // [0, 1)
  int prefix_len = 0;       // a prefix shared by every prompt; 0 = none
  uint64_t seed = 0;
};

// Prompts of prefix_len + RangeAround(input_len) random tokens and RangeAround(output_len)
// max_tokens; the same options and seed give the same prompts.
absl::StatusOr<std::vector<Prompt>> MakeRandomDataset(const RandomDatasetOptions& options,
                                                      const TokenIdRange& ids);

// Reads `num_prompts` prompts from a JSONL file of {"prompt": text, "max_tokens": n} lines
// (max_tokens optional: default_max_tokens), cycling through the file when it holds fewer. Blank
// lines are skipped; a bad line is an error naming the file, the line and the field.
absl::StatusOr<std::vector<Prompt>> LoadJsonlDataset(const std::string& path, int num_prompts,
                                                     int default_max_tokens);

}  // namespace tspserve::tspload
