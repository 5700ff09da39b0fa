#include "server/make_model_command.h"

#include <iostream>
#include <memory>

#include "models/synthetic/make_model.h"
#include "models/synthetic/presets.h"

namespace tspserve {

void AddMakeModelCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<MakeModelOptions>();
  auto list = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("make-model", "write a synthetic Hugging Face checkpoint");
  cmd->add_option("--preset", options->preset, "shape preset (--list shows them)");
  cmd->add_option("--seed", options->seed, "weight seed: same preset and seed, same bytes");
  cmd->add_option("--out", options->out_dir, "output folder");
  cmd->add_option("--max-shard-bytes", options->max_shard_bytes, "split safetensors above this size");
  cmd->add_flag("--list", *list, "list the presets and exit");
  cmd->callback([options, list, exit_code] {
    if (*list) {
      for (const ModelPreset& p : ModelPresets()) std::cout << p.name << "\t" << p.description << "\n";
      return;
    }
    if (options->out_dir.empty()) {
      std::cerr << "make-model: --out is required\n";
      *exit_code = 2;
      return;
    }
    if (absl::Status s = MakeModel(*options); !s.ok()) {
      std::cerr << "make-model: " << s.message() << "\n";
      *exit_code = 1;
      return;
    }
    std::cerr << "wrote " << options->preset << " (seed " << options->seed << ") to "
              << options->out_dir << "\n";
  });
}

}  // namespace tspserve
