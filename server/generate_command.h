// `tspserve generate`: offline generation. Completions go to stdout, statistics to stderr, so
// scripts can compare outputs.
#pragma once

#include <CLI/CLI.hpp>

namespace tspserve {

// Adds the subcommand to `app`; the returned flag is set when it ran and holds its exit code.
void AddGenerateCommand(CLI::App& app, int* exit_code);

}  // namespace tspserve
