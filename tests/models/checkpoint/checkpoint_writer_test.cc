#include "models/checkpoint/checkpoint_writer.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/checkpoint/checkpoint_index.h"
#include "models/checkpoint/safetensors_file.h"
#include "models/checkpoint/safetensors_writer.h"
#include "nlohmann/json.hpp"
#include "tests/models/checkpoint/test_files.h"

namespace tspserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Declares U8 tensors t0, t1, ... of the given byte sizes, writes them (each filled with its
// index) and finishes.
void WriteU8Tensors(CheckpointWriter& writer, const std::vector<int64_t>& sizes) {
  for (size_t i = 0; i < sizes.size(); ++i) {
    ASSERT_TRUE(writer.AddTensor("t" + std::to_string(i), DType::kU8, {sizes[i]}).ok());
  }
  ASSERT_TRUE(writer.Begin().ok());
  for (size_t i = 0; i < sizes.size(); ++i) {
    const std::vector<uint8_t> bytes(sizes[i], static_cast<uint8_t>(i));
    ASSERT_TRUE(writer.WriteData("t" + std::to_string(i), bytes.data(), bytes.size()).ok());
  }
  absl::Status finished = writer.Finish();
  ASSERT_TRUE(finished.ok()) << finished;
}

TEST(CheckpointWriterTest, ShardsLikeSavePretrained) {
  TempDir dir;
  CheckpointWriter writer(dir.path(), 100);
  // 60+30+10 | 150 (over the limit: alone) | 100 (exactly the limit) + 0
  WriteU8Tensors(writer, {60, 30, 10, 150, 100, 0});
  EXPECT_THAT(writer.shard_files(),
              ElementsAre("model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                          "model-00003-of-00003.safetensors"));
  const Json index = Json::parse(ReadAll(dir.File("model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"], 350);
  EXPECT_EQ(index["weight_map"].size(), 6u);
  // Every tensor is in the shard the index names, with its bytes.
  for (const auto& [name, shard] : index["weight_map"].items()) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
        SafetensorsFile::Open(dir.File(shard.get<std::string>()));
    ASSERT_TRUE(file.ok()) << file.status();
    const TensorInfo* t = (*file)->Find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ((*file)->metadata().at("format"), "pt");
    const int index_of = std::stoi(name.substr(1));
    for (uint64_t b = 0; b < t->num_bytes(); ++b) ASSERT_EQ((*file)->Data(*t)[b], index_of);
  }
}

TEST(CheckpointWriterTest, ShardPlanBoundaries) {
  TempDir dir;
  CheckpointWriter writer(dir.path(), 100);
  WriteU8Tensors(writer, {60, 30, 10, 1, 150, 100, 0});
  const Json map = Json::parse(ReadAll(dir.File("model.safetensors.index.json")))["weight_map"];
  EXPECT_EQ(map["t0"], "model-00001-of-00004.safetensors");
  EXPECT_EQ(map["t2"], "model-00001-of-00004.safetensors");  // 60 + 30 + 10 = 100: fits
  EXPECT_EQ(map["t3"], "model-00002-of-00004.safetensors");  // 101 would not
  EXPECT_EQ(map["t4"], "model-00003-of-00004.safetensors");  // over the limit: alone
  EXPECT_EQ(map["t5"], "model-00004-of-00004.safetensors");
  EXPECT_EQ(map["t6"], "model-00004-of-00004.safetensors");  // empty tensor joins
}

TEST(CheckpointWriterTest, IndexJsonFormat) {
  CheckpointIndex index;
  index.total_size = 12;
  index.weight_map = {{"b", "model-00002-of-00002.safetensors"},
                      {"a", "model-00001-of-00002.safetensors"}};
  EXPECT_EQ(CheckpointIndexToJson(index),
            "{\n"
            "  \"metadata\": {\n"
            "    \"total_size\": 12\n"
            "  },\n"
            "  \"weight_map\": {\n"
            "    \"a\": \"model-00001-of-00002.safetensors\",\n"
            "    \"b\": \"model-00002-of-00002.safetensors\"\n"
            "  }\n"
            "}\n");
  absl::StatusOr<CheckpointIndex> back = ParseCheckpointIndex(CheckpointIndexToJson(index), "i");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->weight_map, index.weight_map);
  EXPECT_EQ(back->total_size, 12);
}

TEST(CheckpointWriterTest, SingleShardHasNoIndex) {
  TempDir dir;
  CheckpointWriter writer(dir.path(), 1000);
  WriteU8Tensors(writer, {60, 30});
  EXPECT_THAT(writer.shard_files(), ElementsAre("model.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir.File("model.safetensors.index.json")));
}

TEST(SafetensorsWriterTest, HeaderIsPaddedAndDataAligned) {
  TempDir dir;
  SafetensorsWriter writer;
  ASSERT_TRUE(writer.AddTensor("x", DType::kF32, {3}).ok());
  ASSERT_TRUE(writer.AddTensor("empty", DType::kBF16, {0}).ok());
  ASSERT_TRUE(writer.AddTensor("y", DType::kI64, {1}).ok());
  ASSERT_TRUE(writer.Open(dir.File("f.safetensors"), {{"k", "v"}}).ok());
  const float x[3] = {1, 2, 3};
  const int64_t y = -5;
  ASSERT_TRUE(writer.WriteData("x", x, sizeof(x)).ok());
  ASSERT_TRUE(writer.WriteData("y", &y, sizeof(y)).ok());  // "empty" needs no data
  ASSERT_TRUE(writer.complete());
  ASSERT_TRUE(writer.Close().ok());
  const std::string bytes = ReadAll(dir.File("f.safetensors"));
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(header_length % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_length + 20);
  const Json header = Json::parse(bytes.substr(8, header_length));
  EXPECT_EQ(header["__metadata__"]["k"], "v");
  EXPECT_EQ(header["x"]["data_offsets"], Json({0, 12}));
  EXPECT_EQ(header["empty"]["data_offsets"], Json({12, 12}));
  EXPECT_EQ(header["y"]["dtype"], "I64");
  EXPECT_EQ(header["y"]["data_offsets"], Json({12, 20}));
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
      SafetensorsFile::Open(dir.File("f.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  int64_t y_back = 0;
  std::memcpy(&y_back, (*file)->Data(*(*file)->Find("y")), 8);
  EXPECT_EQ(y_back, -5);
}

TEST(SafetensorsWriterTest, MisuseIsAnError) {
  TempDir dir;
  SafetensorsWriter writer;
  ASSERT_TRUE(writer.AddTensor("a", DType::kF32, {2}).ok());
  EXPECT_FALSE(writer.AddTensor("a", DType::kF32, {2}).ok());
  EXPECT_FALSE(writer.AddTensor("__metadata__", DType::kF32, {2}).ok());
  EXPECT_FALSE(writer.AddTensor("", DType::kF32, {2}).ok());
  EXPECT_FALSE(writer.AddTensor("neg", DType::kF32, {-2}).ok());
  ASSERT_TRUE(writer.AddTensor("b", DType::kF32, {1}).ok());
  const float data[3] = {1, 2, 3};
  EXPECT_FALSE(writer.WriteData("a", data, 8).ok());  // before Open
  ASSERT_TRUE(writer.Open(dir.File("f.safetensors"), {}).ok());
  EXPECT_FALSE(writer.AddTensor("c", DType::kF32, {1}).ok());
  absl::Status out_of_order = writer.WriteData("b", data, 4);
  EXPECT_EQ(out_of_order.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(out_of_order.message()), HasSubstr("expected \"a\""));
  EXPECT_FALSE(writer.WriteData("a", data, 12).ok());  // spills into "b"
  ASSERT_TRUE(writer.WriteData("a", data, 4).ok());
  absl::Status early = writer.Close();
  EXPECT_THAT(std::string(early.message()), HasSubstr("\"a\""));
  EXPECT_FALSE(std::filesystem::exists(dir.File("f.safetensors")));
}

TEST(SafetensorsWriterTest, AbandonedWriterLeavesNoFile) {
  TempDir dir;
  {
    SafetensorsWriter writer;
    ASSERT_TRUE(writer.AddTensor("a", DType::kU8, {4}).ok());
    ASSERT_TRUE(writer.Open(dir.File("f.safetensors"), {}).ok());
    ASSERT_TRUE(writer.WriteData("a", "ab", 2).ok());
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(CheckpointWriterTest, FinishBeforeAllDataIsAnError) {
  TempDir dir;
  CheckpointWriter writer(dir.path(), 4);
  ASSERT_TRUE(writer.AddTensor("a", DType::kU8, {4}).ok());
  ASSERT_TRUE(writer.AddTensor("b", DType::kU8, {4}).ok());
  EXPECT_FALSE(writer.WriteData("a", "abcd", 4).ok());  // before Begin
  ASSERT_TRUE(writer.Begin().ok());
  EXPECT_FALSE(writer.AddTensor("c", DType::kU8, {4}).ok());
  ASSERT_TRUE(writer.WriteData("a", "abcd", 4).ok());
  EXPECT_FALSE(writer.Finish().ok());
  EXPECT_FALSE(std::filesystem::exists(dir.File("model.safetensors.index.json")));
}

TEST(CheckpointWriterTest, NoTensorsIsAnError) {
  TempDir dir;
  CheckpointWriter writer(dir.path(), 4);
  EXPECT_FALSE(writer.Begin().ok());
}

}  // namespace
}  // namespace tspserve
