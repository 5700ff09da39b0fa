// The observability endpoint: a small HTTP server on its own port, separate from the gRPC API.
//   GET /metrics  200, the registry in Prometheus text format (text/plain; version=0.0.4)
//   GET /health   200 "ok" while the process is live (503 when the liveness callback says not)
//   GET /ready    200 "ready" when the readiness callback says so, else 503 "not ready"
//   anything else 404
// Requests are served by a small pool of background threads; handlers only read the registry and
// call the callbacks, which must therefore be thread-safe and quick.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace tspserve::metrics {
class Registry;
}  // namespace tspserve::metrics

namespace tspserve {

struct HttpServerOptions {
  // Address to bind: "0.0.0.0" for every interface, "127.0.0.1" for loopback only.
  std::string host = "0.0.0.0";
  // Liveness; null means live whenever the server runs.
  std::function<bool()> live;
  // Readiness (model loaded, engine stepping); null means ready whenever live.
  std::function<bool()> ready;
  // Threads serving requests (>= 1). Scrapes are rare and cheap; two let one slow client not
  // block the next scrape.
  int num_threads = 2;
};

// Start() and Stop() are called from one thread (the owner's); the handlers run on the pool.
class HttpServer {
 public:
  // `registry` must outlive the server.
  HttpServer(const metrics::Registry* registry, HttpServerOptions options);
  ~HttpServer();  // Stop()s.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0 picks a free port; see port()) and serves on a background thread.
  // InvalidArgument for a port outside [0, 65535] or num_threads < 1; FailedPrecondition when
  // already running; Unavailable when the address cannot be bound (port in use, bad host).
  // The server may be started again after Stop().
  absl::Status Start(int port);
  // Closes the listening socket, finishes requests in flight and joins the threads. Idempotent.
  void Stop();

  bool running() const { return server_ != nullptr; }
  // The bound port while running, else 0.
  int port() const { return port_; }

 private:
  void InstallHandlers();

  const metrics::Registry* const registry_;
  const HttpServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  std::atomic<bool> listener_done_{false};
  int port_ = 0;
};

}  // namespace tspserve
