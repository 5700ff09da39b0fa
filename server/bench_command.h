// `tspserve bench`: memory and speed of the parallel modes on one machine, as ratios to the
// physical floor measured on the same devices. Prints a table; --json writes one record per case.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace tspserve {

// Adds the subcommand to `app`; `exit_code` receives its exit status when it runs.
// `command_line` (the process's arguments) goes into the JSON so a run can be repeated.
void AddBenchCommand(CLI::App& app, const std::string& command_line, int* exit_code);

}  // namespace tspserve
