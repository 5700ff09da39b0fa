// Test-only tool for tests/golden/tokenizer/make_tokenizer_golden.py.
//   write_trained_tokenizer <trained_bytelevel|trained_metaspace> <out.json>
//       writes TrainBpeTokenizerJson output for that golden configuration;
//   write_trained_tokenizer corpus <out.txt>
//       writes the built-in training corpus (so Hugging Face can train on the same text).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "models/tokenizer/bpe_trainer.h"
#include "models/tokenizer/builtin_corpus.h"
#include "tests/models/tokenizer/golden_configs.h"

namespace {

bool WriteFile(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " <trained_bytelevel|trained_metaspace|corpus> <out>\n";
    return 2;
  }
  const std::string name = argv[1];
  std::string contents;
  if (name == "corpus") {
    contents = std::string(tspserve::BuiltinCorpus());
  } else {
    auto options = tspserve::GoldenTrainerOptions(name);
    if (!options.has_value()) {
      std::cerr << "unknown configuration " << name << "\n";
      return 2;
    }
    auto json = tspserve::TrainBpeTokenizerJson(*options);
    if (!json.ok()) {
      std::cerr << json.status().ToString() << "\n";
      return 1;
    }
    contents = *json;
  }
  if (!WriteFile(argv[2], contents)) {
    std::cerr << "cannot write " << argv[2] << "\n";
    return 1;
  }
  return 0;
}
