// tspserve: the command line. Each subcommand lives in its own file.
#include <CLI/CLI.hpp>

#include "engine/common/check.h"
#include <string>

#include "server/bench_command.h"
#include "server/generate_command.h"
#include "server/make_model_command.h"
#include "server/serve_command.h"

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  CLI::App app{"tspserve: an LLM inference server with tensor and sequence parallelism on one axis"};
  app.require_subcommand(1);
  int exit_code = 0;
  tspserve::AddGenerateCommand(app, &exit_code);
  tspserve::AddMakeModelCommand(app, &exit_code);
  tspserve::AddServeCommand(app, &exit_code);
  std::string command_line = argv[0];
  for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
  tspserve::AddBenchCommand(app, command_line, &exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
