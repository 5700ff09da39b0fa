// Test helpers: a temporary directory removed with its contents, and raw file writing.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace tspserve {

class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "/tspserve_ckpt_XXXXXX";
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file: `header_length` (the JSON's size when negative), the JSON, the data.
inline std::string SafetensorsBytes(const std::string& json, const std::string& data,
                                    int64_t header_length = -1) {
  const uint64_t n = header_length < 0 ? json.size() : static_cast<uint64_t>(header_length);
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return bytes + json + data;
}

}  // namespace tspserve
