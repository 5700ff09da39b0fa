// Golden-data files of float32 little-endian values (tests/golden/make_golden.py and
// make_hf_gpu_logits.py write them with numpy's tofile).
#pragma once

#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>

namespace tspserve::testing_util {

inline std::vector<float> ReadFloats(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  EXPECT_TRUE(in.good()) << path;
  std::vector<float> values(static_cast<size_t>(in.tellg()) / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
  return values;
}

}  // namespace tspserve::testing_util
