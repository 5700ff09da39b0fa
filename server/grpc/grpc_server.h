// The gRPC server of `tspserve serve`: tspserve.v1.Generation, the standard grpc.health.v1 health
// service and server reflection, on one address, insecure or TLS. It starts before the model
// loads (health NOT_SERVING, Generation answering UNAVAILABLE) so that orchestrators see the
// process at once; AttachEngine makes it serve.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/engine.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace tspserve {

class GenerationService;
struct ServiceState;

struct GrpcServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (see GrpcServer::port())
  std::string api_key;  // non-empty: calls need "authorization: Bearer <api_key>"
  // Both set: TLS with this PEM certificate chain and private key; both empty: insecure.
  std::string tls_cert_file;
  std::string tls_key_file;
};

// The service names the health service reports on: "" (the whole server) and this one.
inline constexpr char kGenerationServiceName[] = "tspserve.v1.Generation";

class GrpcServer {
 public:
  // Binds and starts serving with health NOT_SERVING. InvalidArgument for a bad port or only one
  // of the TLS files, NotFound for an unreadable TLS file, Unavailable when the address cannot
  // be bound.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options);
  ~GrpcServer();  // Shutdown(0) if still running.

  // Publishes the loaded engine (which must outlive Shutdown) and turns health to SERVING.
  // `options` are what GetServerInfo reports.
  void AttachEngine(Engine* engine, const EngineOptions& options);
  // Health of "" and kGenerationServiceName.
  void SetServing(bool serving);
  // Health NOT_SERVING, no new calls, streams in flight get up to `grace` to finish; those still
  // running then are cancelled (their engine requests aborted). Returns when all calls are done.
  // Idempotent.
  void Shutdown(std::chrono::milliseconds grace);

  int port() const { return port_; }
  std::string address() const;  // host:port

 private:
  GrpcServer();

  std::string host_;
  int port_ = 0;
  std::unique_ptr<ServiceState> state_;
  std::unique_ptr<GenerationService> service_;
  std::unique_ptr<grpc::Server> server_;
  bool shut_down_ = false;
};

}  // namespace tspserve
