#include "server/http/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/check.h"
#include "engine/metrics/metrics.h"

namespace tspserve {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kTextContentType[] = "text/plain; charset=utf-8";

// Idle keep-alive connections are dropped after this long, which also bounds how long Stop() waits
// for one.
constexpr time_t kKeepAliveTimeoutSeconds = 1;

// SO_REUSEADDR only: a restarted server can rebind a port still in TIME_WAIT, but binding a port
// that a live socket listens on fails. (httplib's default sets SO_REUSEPORT, which would let two
// servers share the port silently.) `socket_t` is httplib's global alias for a descriptor.
void SetSocketOptions(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

void Respond(bool ok, const char* ok_body, const char* failed_body, httplib::Response& response) {
  response.status = ok ? 200 : 503;
  response.set_content(ok ? ok_body : failed_body, kTextContentType);
}

}  // namespace

HttpServer::HttpServer(const metrics::Registry* registry, HttpServerOptions options)
    : registry_(registry), options_(std::move(options)) {
  CHECK(registry_ != nullptr);
}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(int port) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("http port ", port, " is outside [0, 65535]"));
  }
  if (options_.num_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("http num_threads must be >= 1, got ", options_.num_threads));
  }
  if (running()) {
    return absl::FailedPreconditionError(absl::StrCat("http server already runs on port ", port_));
  }
  server_ = std::make_unique<httplib::Server>();
  const size_t num_threads = static_cast<size_t>(options_.num_threads);
  server_->new_task_queue = [num_threads] { return new httplib::ThreadPool(num_threads); };
  server_->set_socket_options(SetSocketOptions);
  server_->set_keep_alive_timeout(kKeepAliveTimeoutSeconds);
  InstallHandlers();
  const int bound = port == 0 ? server_->bind_to_any_port(options_.host)
                              : (server_->bind_to_port(options_.host, port) ? port : -1);
  if (bound <= 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("http server cannot listen on ", options_.host, ":",
                                               port, " (port in use or address not available)"));
  }
  port_ = bound;
  listener_done_ = false;
  listener_ = std::thread([this] {
    server_->listen_after_bind();
    listener_done_ = true;
  });
  // httplib's stop() does nothing until the accept loop has started, so wait for it: a Stop()
  // right after Start() must not be lost.
  while (!server_->is_running() && !listener_done_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (listener_done_) {
    Stop();
    return absl::InternalError(absl::StrCat("http server on port ", bound, " stopped at once"));
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (!running()) return;
  server_->stop();
  listener_.join();
  server_.reset();
  port_ = 0;
}

void HttpServer::InstallHandlers() {
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry_->RenderPrometheusText(), kMetricsContentType);
  });
  server_->Get("/health", [this](const httplib::Request&, httplib::Response& response) {
    const bool live = !options_.live || options_.live();
    Respond(live, "ok", "not live", response);
  });
  server_->Get("/ready", [this](const httplib::Request&, httplib::Response& response) {
    const bool live = !options_.live || options_.live();
    const bool ready = live && (!options_.ready || options_.ready());
    Respond(ready, "ready", "not ready", response);
  });
  server_->set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (response.status == 404 && response.body.empty()) {
      response.set_content("not found", kTextContentType);
    }
  });
}

}  // namespace tspserve
