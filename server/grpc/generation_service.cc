#include "server/grpc/generation_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/grpc/auth.h"
#include "server/grpc/generate_reactor.h"
#include "server/grpc/status_conversion.h"

namespace tspserve {
namespace {

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context, const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

}  // namespace

grpc::Status GenerationService::Admit(const grpc::CallbackServerContext& context,
                                      Engine** engine) const {
  grpc::Status auth = CheckApiKey(context, state_.api_key);
  if (!auth.ok()) return auth;
  *engine = state_.engine.load();
  if (*engine == nullptr) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the model is loading");
  return grpc::Status::OK;
}

grpc::ServerWriteReactor<v1::GenerateResponse>* GenerationService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  return GenerateReactor::Start(context, *request, state_);
}

grpc::ServerUnaryReactor* GenerationService::Abort(grpc::CallbackServerContext* context,
                                                   const v1::AbortRequest* request,
                                                   v1::AbortResponse* response) {
  Engine* engine = nullptr;
  if (grpc::Status s = Admit(*context, &engine); !s.ok()) return Done(context, s);
  const std::optional<uint64_t> id = state_.requests.Find(request->request_id());
  if (id.has_value()) engine->Abort(*id);
  response->set_found(id.has_value());
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GenerationService::GetModelInfo(grpc::CallbackServerContext* context,
                                                          const v1::GetModelInfoRequest*,
                                                          v1::GetModelInfoResponse* response) {
  Engine* engine = nullptr;
  if (grpc::Status s = Admit(*context, &engine); !s.ok()) return Done(context, s);
  const ModelConfig& config = engine->config();
  response->set_model_path(state_.engine_options.model_dir);
  response->set_architecture(config.architecture_name);
  response->set_max_context_tokens(config.max_position_embeddings);
  response->set_vocab_size(config.vocab_size);
  response->mutable_eos_token_ids()->Add(config.eos_token_ids.begin(), config.eos_token_ids.end());
  if (config.bos_token_id.has_value()) response->set_bos_token_id(*config.bos_token_id);
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GenerationService::GetServerInfo(grpc::CallbackServerContext* context,
                                                           const v1::GetServerInfoRequest*,
                                                           v1::GetServerInfoResponse* response) {
  Engine* engine = nullptr;
  if (grpc::Status s = Admit(*context, &engine); !s.ok()) return Done(context, s);
  const ParallelConfig& parallel = engine->parallel();
  const EngineOptions& options = state_.engine_options;
  response->set_parallel_mode(std::string(ParallelModeName(parallel.mode)));
  response->set_degree(parallel.degree);
  response->set_tensor_parallel(parallel.tp);
  response->set_sequence_parallel(parallel.sp);
  response->set_decode_schedule(std::string(DecodeScheduleName(parallel.decode_schedule)));
  response->set_block_size(engine->block_size());
  response->set_kv_pages_per_rank(engine->GetLoad().kv_pages_total);
  response->set_max_num_seqs(options.scheduler.max_num_seqs);
  response->set_max_batched_tokens(options.scheduler.max_batched_tokens);
  response->set_max_queued_requests(options.max_queued_requests);
  response->set_version(TSPSERVE_VERSION);
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GenerationService::GetLoad(grpc::CallbackServerContext* context,
                                                     const v1::GetLoadRequest*,
                                                     v1::GetLoadResponse* response) {
  Engine* engine = nullptr;
  if (grpc::Status s = Admit(*context, &engine); !s.ok()) return Done(context, s);
  const EngineLoad load = engine->GetLoad();
  response->set_running(load.running);
  response->set_waiting(load.waiting);
  response->mutable_kv_pages_used()->Add(load.kv_pages_used.begin(), load.kv_pages_used.end());
  response->set_kv_pages_total(load.kv_pages_total);
  response->set_num_preemptions(load.num_preemptions);
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GenerationService::Tokenize(grpc::CallbackServerContext* context,
                                                      const v1::TokenizeRequest* request,
                                                      v1::TokenizeResponse* response) {
  Engine* engine = nullptr;
  if (grpc::Status s = Admit(*context, &engine); !s.ok()) return Done(context, s);
  const bool special = !request->has_add_special_tokens() || request->add_special_tokens();
  const std::vector<int32_t> ids = engine->tokenizer().Encode(request->text(), special);
  response->mutable_token_ids()->Add(ids.begin(), ids.end());
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GenerationService::Detokenize(grpc::CallbackServerContext* context,
                                                        const v1::DetokenizeRequest* request,
                                                        v1::DetokenizeResponse* response) {
  Engine* engine = nullptr;
  if (grpc::Status s = Admit(*context, &engine); !s.ok()) return Done(context, s);
  const auto& ids = request->token_ids();
  const int32_t vocab_size = engine->tokenizer().vocab_size();
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      return Done(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                        absl::StrCat("token_ids[", i, "] = ", ids[i],
                                                     " is outside the vocabulary [0, ",
                                                     vocab_size, ")")));
    }
  }
  absl::StatusOr<std::string> text = engine->tokenizer().Decode(
      std::span<const int32_t>(ids.data(), ids.size()), request->skip_special_tokens());
  if (!text.ok()) return Done(context, ToGrpcStatus(text.status()));
  response->set_text(*std::move(text));
  return Done(context, grpc::Status::OK);
}

}  // namespace tspserve
