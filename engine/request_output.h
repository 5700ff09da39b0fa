// What the engine reports about one request as it runs: a stream of deltas (new token ids and
// new text, never cumulative), the last of which carries the finish reason, usage and timings.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/stop_checker.h"

namespace tspserve {

// Seconds from the request's arrival; negative when the event has not happened.
struct RequestTimings {
  double first_scheduled = -1;
  double first_token = -1;
  double finished = -1;
};

struct RequestOutput {
  uint64_t request_id = 0;
  std::vector<int32_t> token_ids;          // tokens since the previous output
  std::vector<SampledToken> logprobs;      // per token, when num_logprobs > 0
  std::string text;                        // text since the previous output (valid UTF-8)
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  std::string matched_stop;                // the stop string or stop token id, if one ended it
  absl::Status status;                     // not OK only with kError
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;           // so far
  int32_t num_preemptions = 0;
  RequestTimings timings;
};

// Called on the engine's thread for every output of a request; must not block (a server queues
// the output for its writer).
using OutputCallback = std::function<void(const RequestOutput&)>;

}  // namespace tspserve
