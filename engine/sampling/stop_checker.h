// Stop rules of one generated sequence: stop token ids, EOS, stop strings, min and max tokens, and
// the streaming hold-back of text that may still turn into a stop string (vLLM's semantics).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tspserve {

struct StoppingCriteria {
  // >= 1: most tokens generated, the stopping one included.
  int32_t max_tokens = 16;
  // [0, max_tokens]: no EOS, stop id or stop string ends generation before this many tokens.
  int32_t min_tokens = 0;
  // Non-empty strings; generation ends when one appears in the output.
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  std::vector<int32_t> eos_token_ids;
  // EOS is then ordinary text (stop_token_ids still apply).
  bool ignore_eos = false;
  // Keep the matched stop string, or the text of the stopping token, in the output.
  bool include_stop_in_output = false;
};

// InvalidArgument naming the field: max_tokens < 1, min_tokens outside [0, max_tokens], empty stop.
absl::Status ValidateStoppingCriteria(const StoppingCriteria& criteria);

// Why a sequence stopped; the checker itself only produces kStop and kLength.
enum class FinishReason { kNone, kStop, kLength, kCancelled, kDeadlineExceeded, kError };

// The stop that ended generation: nothing, a stop string, or a stop/EOS token id.
using MatchedStop = std::variant<std::monostate, std::string, int32_t>;

// What one Append allows the caller to stream, and whether generation has finished.
struct StopUpdate {
  std::string text;
  FinishReason finish_reason = FinishReason::kNone;
};

// Fed each generated token with the text it added (valid UTF-8; may be empty while the detokenizer
// waits for more bytes). The streamed texts of all updates plus Flush() equal the final output.
// Stop strings are looked for from the min_tokens-th token on, in the text not yet released (which
// may include a held-back tail from earlier tokens); released text never holds the start of a stop
// string that could still complete. When several stop strings complete in the same text, the one
// ending first wins (then the longer one).
class StopChecker {
 public:
  // InvalidArgument when the criteria fail ValidateStoppingCriteria.
  static absl::StatusOr<StopChecker> Create(StoppingCriteria criteria);
  // `criteria` must pass ValidateStoppingCriteria (CHECKed).
  explicit StopChecker(StoppingCriteria criteria);

  // Feeds the next generated token. With a stop string the output is cut before it (or after it
  // with include_stop_in_output); a stop/EOS token's own text is dropped unless
  // include_stop_in_output. Reaching max_tokens without a stop finishes with kLength. On finishing,
  // every held-back character is released. Must not be called once finished().
  StopUpdate Append(int32_t token_id, std::string_view new_text);

  // Ends the stream: appends `tail` (text the detokenizer still held, if any) and releases all
  // pending text. If the sequence has not finished and min_tokens is reached, a stop string
  // completed by the tail still cuts the text and finishes with kStop. For generation that ends
  // outside the checker (cancel, deadline, error) or after kLength.
  std::string Flush(std::string_view tail = {});

  bool finished() const { return finish_reason_ != FinishReason::kNone; }
  FinishReason finish_reason() const { return finish_reason_; }
  const MatchedStop& matched_stop() const { return matched_stop_; }
  // Tokens fed so far.
  int32_t num_tokens() const { return num_tokens_; }
  // Stop and EOS ids the sampler should ban for the next token (vLLM's min_tokens logits processor:
  // while fewer than min_tokens tokens were fed). Empty afterwards.
  std::vector<int32_t> SuppressedTokenIds() const;

 private:
  bool IsStopToken(int32_t token_id) const;
  // Ends generation on a stop string in pending_, if any; returns the text released.
  bool MatchStopString(std::string& released);
  // Length of the longest suffix of pending_ that is a proper prefix of a stop string.
  size_t HeldBackLength() const;
  void Finish(FinishReason reason, MatchedStop matched);
  std::string ReleaseAll();

  StoppingCriteria criteria_;
  size_t max_stop_length_ = 0;
  std::string pending_;  // text not yet released; holds no complete stop string
  int32_t num_tokens_ = 0;
  FinishReason finish_reason_ = FinishReason::kNone;
  MatchedStop matched_stop_;
};

}  // namespace tspserve
