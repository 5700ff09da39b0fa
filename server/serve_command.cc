#include "server/serve_command.h"

#include <pthread.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <string>

#include "engine/metrics/metrics.h"
#include "engine/metrics/server_metrics.h"
#include "server/engine_flags.h"
#include "server/grpc/grpc_server.h"
#include "server/http/http_server.h"

namespace tspserve {
namespace {

struct ServeFlags {
  EngineFlags engine;
  GrpcServerOptions server;
  int metrics_port = -1;  // < 0: no HTTP endpoint
  int grace_seconds = 30;
};

// SIGTERM and SIGINT are blocked in every thread (threads inherit the mask) and taken with
// sigwait by the main thread, so a signal during loading waits until the engine exists.
sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int Fail(const absl::Status& status) {
  std::cerr << "serve: " << status.message() << std::endl;
  return 1;
}

int RunServe(const ServeFlags& flags) {
  absl::StatusOr<EngineOptions> options = ParseEngineFlags(flags.engine);
  if (!options.ok()) return Fail(options.status());
  const sigset_t signals = BlockShutdownSignals();
  // /metrics, /health and /ready on their own port: live at once, ready once the model serves.
  metrics::Registry registry;
  absl::StatusOr<std::unique_ptr<metrics::ServerMetrics>> server_metrics =
      metrics::ServerMetrics::Create(&registry);
  if (!server_metrics.ok()) return Fail(server_metrics.status());
  options->metrics = server_metrics->get();
  std::atomic<bool> ready{false};
  HttpServerOptions http_options;
  http_options.host = flags.server.host;
  http_options.ready = [&ready] { return ready.load(); };
  HttpServer http(&registry, http_options);
  if (flags.metrics_port >= 0) {
    if (absl::Status s = http.Start(flags.metrics_port); !s.ok()) return Fail(s);
    std::cerr << "serve: metrics on " << flags.server.host << ":" << http.port() << std::endl;
  }
  absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(flags.server);
  if (!server.ok()) return Fail(server.status());
  std::cerr << "serve: listening on " << (*server)->address() << std::endl;
  absl::StatusOr<std::string> model_dir = ResolveModelDir(flags.engine);
  if (!model_dir.ok()) return Fail(model_dir.status());
  options->model_dir = *model_dir;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*options);
  if (!engine.ok()) return Fail(engine.status());
  (*server)->AttachEngine(engine->get(), *options);
  ready = true;
  std::cerr << "serve: serving " << *model_dir << " (" << ParallelModeName(options->parallel.mode)
            << " on " << options->parallel.degree << " ranks)" << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  std::cerr << "serve: " << (signal == SIGTERM ? "SIGTERM" : "SIGINT") << ", draining for up to "
            << flags.grace_seconds << " s" << std::endl;
  ready = false;
  (*server)->Shutdown(std::chrono::seconds(flags.grace_seconds));
  server->reset();
  engine->reset();
  http.Stop();
  std::cerr << "serve: stopped" << std::endl;
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  flags->server.port = 50051;
  CLI::App* cmd = app.add_subcommand("serve", "serve the gRPC generate API (tspserve.v1.Generation)");
  AddEngineFlags(*cmd, flags->engine);
  cmd->add_option("--host", flags->server.host, "address to listen on (0.0.0.0: every interface)");
  cmd->add_option("--port", flags->server.port, "gRPC port (0: any free port, logged)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--metrics-port", flags->metrics_port,
                  "HTTP port for /metrics (Prometheus), /health and /ready (0: any free port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", flags->server.api_key,
                  "require metadata \"authorization: Bearer KEY\" on every call");
  cmd->add_option("--tls-cert", flags->server.tls_cert_file, "PEM certificate chain (with --tls-key)");
  cmd->add_option("--tls-key", flags->server.tls_key_file, "PEM private key (with --tls-cert)");
  cmd->add_option("--grace-seconds", flags->grace_seconds,
                  "on SIGTERM/SIGINT, how long streams in flight may take to finish")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([flags, exit_code] { *exit_code = RunServe(*flags); });
}

}  // namespace tspserve
