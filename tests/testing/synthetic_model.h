// A synthetic checkpoint of a preset (tspserve make-model), made once per test process in the test
// temp folder and shared by every test that asks for the same preset and seed.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "models/synthetic/make_model.h"

namespace tspserve::testing_support {

inline std::string SyntheticModelDir(const std::string& preset, uint64_t seed = 0) {
  static auto* dirs = new std::map<std::pair<std::string, uint64_t>, std::string>();
  const auto key = std::make_pair(preset, seed);
  if (auto it = dirs->find(key); it != dirs->end()) return it->second;
  const std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / ("synthetic_" + preset + "_" + std::to_string(seed));
  std::filesystem::remove_all(dir);
  MakeModelOptions options;
  options.preset = preset;
  options.seed = seed;
  options.out_dir = dir.string();
  EXPECT_TRUE(MakeModel(options).ok());
  return (*dirs)[key] = dir.string();
}

}  // namespace tspserve::testing_support
