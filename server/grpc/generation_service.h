// tspserve.v1.Generation on gRPC's callback API. Every method first checks the API key, then
// that the model has loaded (UNAVAILABLE while it loads). Unary methods answer inline; Generate
// hands the stream to a GenerateReactor.
#pragma once

#include "server/grpc/service_state.h"
#include "tspserve/v1/generate.grpc.pb.h"

namespace tspserve {

class GenerationService final : public v1::Generation::CallbackService {
 public:
  // `state` must outlive the service.
  explicit GenerationService(ServiceState& state) : state_(state) {}

  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Abort(grpc::CallbackServerContext* context,
                                  const v1::AbortRequest* request,
                                  v1::AbortResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::GetModelInfoResponse* response) override;
  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* context,
                                          const v1::GetServerInfoRequest* request,
                                          v1::GetServerInfoResponse* response) override;
  grpc::ServerUnaryReactor* GetLoad(grpc::CallbackServerContext* context,
                                    const v1::GetLoadRequest* request,
                                    v1::GetLoadResponse* response) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const v1::DetokenizeRequest* request,
                                       v1::DetokenizeResponse* response) override;

 private:
  // The API key and engine checks shared by the unary methods: sets *engine on success.
  grpc::Status Admit(const grpc::CallbackServerContext& context, Engine** engine) const;

  ServiceState& state_;
};

}  // namespace tspserve
