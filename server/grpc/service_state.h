// What the Generation service and its streams share: the engine (null while the model loads),
// the settings GetServerInfo reports, the API key and the requests in flight.
#pragma once

#include <atomic>
#include <string>

#include "engine/engine.h"
#include "server/grpc/request_registry.h"

namespace tspserve {

struct ServiceState {
  // Set once the model has loaded; the engine must outlive the gRPC server's Shutdown.
  std::atomic<Engine*> engine{nullptr};
  EngineOptions engine_options;  // written before `engine` is published
  std::string api_key;           // empty: no authentication
  RequestRegistry requests;
};

}  // namespace tspserve
