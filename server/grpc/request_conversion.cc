#include "server/grpc/request_conversion.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tspserve {
namespace {

absl::Status CheckTokenIds(const google::protobuf::RepeatedField<int32_t>& ids,
                           int64_t vocab_size) {
  if (ids.empty()) return absl::InvalidArgumentError("token_ids is empty");
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token_ids[", i, "] = ", ids[i],
                                                     " is outside the vocabulary [0, ",
                                                     vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> PromptTokens(const v1::GenerateRequest& request,
                                                  const Tokenizer& tokenizer,
                                                  int64_t vocab_size) {
  switch (request.input_case()) {
    case v1::GenerateRequest::kText: {
      if (request.text().empty()) return absl::InvalidArgumentError("text is empty");
      const bool special = !request.has_add_special_tokens() || request.add_special_tokens();
      return tokenizer.Encode(request.text(), special);
    }
    case v1::GenerateRequest::kTokenIds: {
      const auto& ids = request.token_ids().ids();
      if (absl::Status s = CheckTokenIds(ids, vocab_size); !s.ok()) return s;
      return std::vector<int32_t>(ids.begin(), ids.end());
    }
    case v1::GenerateRequest::INPUT_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("input: set text or token_ids");
}

absl::StatusOr<SamplingParams> ToSampling(const v1::GenerateRequest& request) {
  const v1::SamplingParams& in = request.sampling();
  if (in.has_n() && in.n() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("n must be 1 (one completion per request), got ", in.n()));
  }
  if (request.logprobs() < 0 || request.logprobs() > kMaxNumLogprobs) {
    return absl::InvalidArgumentError(absl::StrCat("logprobs must be in [0, ", kMaxNumLogprobs,
                                                   "], got ", request.logprobs()));
  }
  SamplingParams out;
  if (in.has_temperature()) out.temperature = in.temperature();
  if (in.has_top_p()) out.top_p = in.top_p();
  if (in.has_top_k()) out.top_k = in.top_k();
  if (in.has_min_p()) out.min_p = in.min_p();
  if (in.has_repetition_penalty()) out.repetition_penalty = in.repetition_penalty();
  if (in.has_presence_penalty()) out.presence_penalty = in.presence_penalty();
  if (in.has_frequency_penalty()) out.frequency_penalty = in.frequency_penalty();
  if (in.has_seed()) out.seed = in.seed();
  out.num_logprobs = request.logprobs();
  return out;
}

StoppingCriteria ToStopping(const v1::StoppingCriteria& in, const ModelConfig& config) {
  StoppingCriteria out;
  if (in.has_max_tokens()) out.max_tokens = in.max_tokens();
  out.min_tokens = in.min_tokens();
  out.stop.assign(in.stop().begin(), in.stop().end());
  out.stop_token_ids.assign(in.stop_token_ids().begin(), in.stop_token_ids().end());
  out.eos_token_ids = config.eos_token_ids;
  out.ignore_eos = in.ignore_eos();
  out.include_stop_in_output = in.include_stop_in_output();
  return out;
}

v1::Chunk ToChunk(const RequestOutput& output) {
  v1::Chunk chunk;
  chunk.mutable_token_ids()->Add(output.token_ids.begin(), output.token_ids.end());
  chunk.set_text(output.text);
  for (const SampledToken& token : output.logprobs) {
    v1::Logprobs* lp = chunk.add_logprobs();
    lp->mutable_sampled()->set_token_id(token.token);
    lp->mutable_sampled()->set_logprob(token.logprob);
    for (const auto& [id, logprob] : token.top_logprobs) {
      v1::TokenLogprob* top = lp->add_top();
      top->set_token_id(id);
      top->set_logprob(logprob);
    }
  }
  return chunk;
}

v1::Complete ToComplete(const RequestOutput& output) {
  v1::Complete complete;
  complete.set_finish_reason(ToWireFinishReason(output.finish_reason));
  complete.set_matched_stop(output.matched_stop);
  complete.mutable_usage()->set_prompt_tokens(output.prompt_tokens);
  complete.mutable_usage()->set_completion_tokens(output.completion_tokens);
  const RequestTimings& t = output.timings;
  v1::Timings* timings = complete.mutable_timings();
  timings->set_queued(t.first_scheduled);
  timings->set_first_scheduled(t.first_scheduled);
  timings->set_first_token(t.first_token);
  timings->set_finished(t.finished);
  if (!output.status.ok()) complete.set_error(std::string(output.status.message()));
  complete.set_num_preemptions(output.num_preemptions);
  return complete;
}

}  // namespace

absl::StatusOr<GenerateRequest> ToEngineRequest(const v1::GenerateRequest& request,
                                                const Tokenizer& tokenizer,
                                                const ModelConfig& config) {
  if (request.priority() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "priority must be 0 (the scheduler is first come, first served), got ", request.priority()));
  }
  GenerateRequest out;
  absl::StatusOr<std::vector<int32_t>> prompt = PromptTokens(request, tokenizer, config.vocab_size);
  if (!prompt.ok()) return prompt.status();
  out.prompt_tokens = *std::move(prompt);
  absl::StatusOr<SamplingParams> sampling = ToSampling(request);
  if (!sampling.ok()) return sampling.status();
  out.sampling = *sampling;
  out.stopping = ToStopping(request.stopping(), config);
  return out;
}

std::vector<v1::GenerateResponse> ToResponses(const RequestOutput& output,
                                              const std::string& request_id) {
  std::vector<v1::GenerateResponse> responses;
  if (!output.token_ids.empty() || !output.text.empty()) {
    v1::GenerateResponse& r = responses.emplace_back();
    r.set_request_id(request_id);
    *r.mutable_chunk() = ToChunk(output);
  }
  if (output.finished) {
    v1::GenerateResponse& r = responses.emplace_back();
    r.set_request_id(request_id);
    *r.mutable_complete() = ToComplete(output);
  }
  return responses;
}

v1::FinishReason ToWireFinishReason(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return v1::FINISH_REASON_STOP;
    case FinishReason::kLength: return v1::FINISH_REASON_LENGTH;
    case FinishReason::kCancelled: return v1::FINISH_REASON_CANCELLED;
    case FinishReason::kDeadlineExceeded: return v1::FINISH_REASON_DEADLINE_EXCEEDED;
    case FinishReason::kError: return v1::FINISH_REASON_ERROR;
    case FinishReason::kNone: break;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

}  // namespace tspserve
