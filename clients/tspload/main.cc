// tspload: a load-test client for tspserve, measuring what vLLM's `bench serve` measures.
//
//   tspload --target 127.0.0.1:50051 --num-requests 200 --request-rate 10
//           --input-len 512 --output-len 128 --ignore-eos --result-json result.json
//
// Exit status: 0 after a run (failed requests are counted in the result), 1 when the run could
// not happen (bad flags, the server not ready in time, ...), with the reason on stderr.
#include <iostream>

#include <CLI/CLI.hpp>

#include "clients/tspload/benchmark.h"
#include "clients/tspload/tspload_flags.h"

int main(int argc, char** argv) {
  tspserve::tspload::TsploadFlags flags;
  CLI::App app{"tspload: load-test a tspserve server (vLLM bench serve metrics)"};
  tspserve::tspload::AddFlags(app, &flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;  // --help exits 0
  }
  absl::Status status = tspserve::tspload::ResolveFlags(&flags);
  if (status.ok()) status = tspserve::tspload::RunBenchmark(flags, std::cout);
  if (!status.ok()) {
    std::cerr << "tspload: " << status.message() << std::endl;
    return 1;
  }
  return 0;
}
