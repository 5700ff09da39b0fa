// Translation between the wire API (tspserve.v1) and the engine's types. Only this file and the
// service know both; the engine never sees a protobuf.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "tspserve/v1/generate.pb.h"

namespace tspserve {

// Maps a wire request onto the engine's GenerateRequest: text is tokenized (add_special_tokens
// defaults to true), unset optional fields take vLLM's defaults (temperature 1, top_p 1,
// max_tokens 16), and the model's EOS ids are attached. InvalidArgument naming the field for what
// only the wire API can get wrong: no input, empty text or token_ids, a token id outside
// [0, vocab_size), n != 1, priority != 0, logprobs outside [0, kMaxNumLogprobs]. The engine's
// Submit checks the remaining ranges (temperature, top_p, max_tokens, context length, ...).
absl::StatusOr<GenerateRequest> ToEngineRequest(const v1::GenerateRequest& request,
                                                const Tokenizer& tokenizer,
                                                const ModelConfig& config);

// The wire messages for one engine output: a Chunk when it carries tokens or text, then, on the
// final output, a Complete. Every message carries `request_id`.
std::vector<v1::GenerateResponse> ToResponses(const RequestOutput& output,
                                              const std::string& request_id);

v1::FinishReason ToWireFinishReason(FinishReason reason);

}  // namespace tspserve
