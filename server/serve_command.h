// `tspserve serve`: the gRPC server. It listens at once (health NOT_SERVING, Generate answering
// UNAVAILABLE), loads the model, then serves (health SERVING) until SIGTERM or SIGINT, which
// drains: health NOT_SERVING, no new calls, streams in flight get --grace-seconds to finish, the
// rest are cancelled, exit 0.
#pragma once

#include <CLI/CLI.hpp>

namespace tspserve {

// Adds the subcommand to `app`; when it runs, *exit_code receives its exit code.
void AddServeCommand(CLI::App& app, int* exit_code);

}  // namespace tspserve
