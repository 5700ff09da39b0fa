// `tspserve make-model`: writes a synthetic Hugging Face checkpoint from a shape preset.
#pragma once

#include <CLI/CLI.hpp>

namespace tspserve {

void AddMakeModelCommand(CLI::App& app, int* exit_code);

}  // namespace tspserve
