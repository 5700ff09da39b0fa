#include "models/checkpoint/checkpoint.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/checkpoint/checkpoint_writer.h"
#include "tests/models/checkpoint/test_files.h"

namespace tspserve {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Exactly representable in F16 and BF16, distinct for a few hundred elements.
float Value(int64_t i, int salt) { return static_cast<float>((i * 7 + salt) % 509 - 254) * 0.5f; }

// The bytes of `count` Values in `dtype`.
std::vector<uint8_t> Encode(DType dtype, int64_t count, int salt) {
  std::vector<float> f(count);
  for (int64_t i = 0; i < count; ++i) f[i] = Value(i, salt);
  std::vector<uint8_t> bytes(count * DTypeSize(dtype));
  ConvertFromFloat(f.data(), f.size(), dtype, bytes.data());
  return bytes;
}

struct Spec {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  int salt;
  int64_t count() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

const std::vector<Spec>& Specs() {
  static const auto* specs = new std::vector<Spec>{
      {"model.embed_tokens.weight", DType::kBF16, {37, 13}, 1},
      {"model.norm.weight", DType::kF32, {13}, 2},
      {"model.layers.0.self_attn.q_proj.weight", DType::kF16, {11, 13}, 3},
      {"model.layers.0.self_attn.q_proj.bias", DType::kBF16, {11}, 4},
      {"lm_head.weight", DType::kF32, {37, 13}, 5},
      {"model.layers.0.mlp.up_proj.weight", DType::kF16, {29, 7}, 6},
  };
  return *specs;
}

// Writes Specs() into `dir`, each tensor in chunks of `chunk` bytes.
void WriteCheckpoint(const std::string& dir, uint64_t max_shard_bytes, size_t chunk = 1 << 20) {
  CheckpointWriter writer(dir, max_shard_bytes);
  for (const Spec& s : Specs()) ASSERT_TRUE(writer.AddTensor(s.name, s.dtype, s.shape).ok());
  ASSERT_TRUE(writer.Begin().ok());
  for (const Spec& s : Specs()) {
    const std::vector<uint8_t> bytes = Encode(s.dtype, s.count(), s.salt);
    for (size_t at = 0; at < bytes.size(); at += chunk) {
      const size_t n = std::min(chunk, bytes.size() - at);
      ASSERT_TRUE(writer.WriteData(s.name, bytes.data() + at, n).ok()) << s.name;
    }
  }
  absl::Status finished = writer.Finish();
  ASSERT_TRUE(finished.ok()) << finished;
}

// Opens the checkpoint in `dir`, failing the test when it cannot.
std::unique_ptr<Checkpoint> OpenOrDie(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<Checkpoint>> c = Checkpoint::Open(dir);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

// Reads rows of `s` as `dtype` and returns them as floats.
std::vector<float> ReadRowsAsFloat(const Checkpoint& c, const Spec& s, int64_t begin, int64_t end,
                                   DType dtype) {
  const int64_t cols = s.shape.size() == 2 ? s.shape[1] : 1;
  const int64_t count = (end - begin) * cols;
  std::vector<uint8_t> raw(count * DTypeSize(dtype));
  absl::Status status = c.ReadRows(s.name, begin, end, dtype, raw.data());
  EXPECT_TRUE(status.ok()) << status;
  std::vector<float> out(count);
  ConvertToFloat(dtype, raw.data(), count, out.data());
  return out;
}

void ExpectAllReadsMatch(const Checkpoint& c) {
  for (const Spec& s : Specs()) {
    SCOPED_TRACE(s.name);
    absl::StatusOr<TensorInfo> info = c.Info(s.name);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->dtype, s.dtype);
    EXPECT_EQ(info->shape, s.shape);
    std::vector<float> expected(s.count());
    for (int64_t i = 0; i < s.count(); ++i) expected[i] = Value(i, s.salt);
    for (DType dst : {DType::kF32, DType::kF16, DType::kBF16}) {
      EXPECT_THAT(ReadRowsAsFloat(c, s, 0, s.shape[0], dst), ElementsAreArray(expected));
    }
  }
}

class CheckpointTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(CheckpointTest, SingleFileRoundTrip) {
  WriteCheckpoint(dir_.path(), uint64_t{1} << 30);
  EXPECT_TRUE(std::filesystem::exists(dir_.File("model.safetensors")));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("model.safetensors.index.json")));
  std::unique_ptr<Checkpoint> c = OpenOrDie(dir_.path());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->TensorNames().size(), Specs().size());
  EXPECT_TRUE(c->Has("lm_head.weight"));
  EXPECT_FALSE(c->Has("lm_head"));
  ExpectAllReadsMatch(*c);
  EXPECT_TRUE(c->Validate().ok());
}

TEST_F(CheckpointTest, ShardedRoundTripWithSmallChunks) {
  WriteCheckpoint(dir_.path(), 1000, 7);
  EXPECT_FALSE(std::filesystem::exists(dir_.File("model.safetensors")));
  EXPECT_TRUE(std::filesystem::exists(dir_.File("model.safetensors.index.json")));
  std::unique_ptr<Checkpoint> c = OpenOrDie(dir_.path());
  ASSERT_NE(c, nullptr);
  ExpectAllReadsMatch(*c);
  EXPECT_TRUE(c->Validate().ok());
}

TEST_F(CheckpointTest, RowSlices) {
  WriteCheckpoint(dir_.path(), 1000);
  std::unique_ptr<Checkpoint> c = OpenOrDie(dir_.path());
  ASSERT_NE(c, nullptr);
  const Spec& embed = Specs()[0];  // BF16 [37, 13]
  std::vector<float> rows = ReadRowsAsFloat(*c, embed, 5, 12, DType::kF32);
  ASSERT_EQ(rows.size(), 7u * 13u);
  for (int64_t r = 0; r < 7; ++r) {
    for (int64_t k = 0; k < 13; ++k) EXPECT_EQ(rows[r * 13 + k], Value((5 + r) * 13 + k, 1));
  }
  const Spec& bias = Specs()[3];  // BF16 [11]: rows are elements
  EXPECT_THAT(ReadRowsAsFloat(*c, bias, 9, 11, DType::kF16),
              ElementsAre(Value(9, 4), Value(10, 4)));
  EXPECT_TRUE(ReadRowsAsFloat(*c, bias, 4, 4, DType::kF32).empty());
}

TEST_F(CheckpointTest, ColumnSlices) {
  WriteCheckpoint(dir_.path(), 1000);
  std::unique_ptr<Checkpoint> c = OpenOrDie(dir_.path());
  ASSERT_NE(c, nullptr);
  const Spec& up = Specs()[5];  // F16 [29, 7]
  std::vector<uint16_t> out(29 * 4);
  ASSERT_TRUE(c->ReadColumns(up.name, 2, 6, DType::kBF16, out.data()).ok());
  for (int64_t r = 0; r < 29; ++r) {
    for (int64_t k = 0; k < 4; ++k) {
      EXPECT_EQ(Bf16ToFloat(out[r * 4 + k]), Value(r * 7 + 2 + k, 6)) << r << "," << k;
    }
  }
  std::vector<float> last(29);
  ASSERT_TRUE(c->ReadColumns(up.name, 6, 7, DType::kF32, last.data()).ok());
  for (int64_t r = 0; r < 29; ++r) EXPECT_EQ(last[r], Value(r * 7 + 6, 6));
}

TEST_F(CheckpointTest, ConversionRoundsToNearest) {
  CheckpointWriter writer(dir_.path(), 1 << 20);
  ASSERT_TRUE(writer.AddTensor("w", DType::kF32, {3}).ok());
  ASSERT_TRUE(writer.Begin().ok());
  const float values[3] = {1.0f + 1.0f / 512, 3.14159f, -65504.5f};
  ASSERT_TRUE(writer.WriteData("w", values, sizeof(values)).ok());
  ASSERT_TRUE(writer.Finish().ok());
  std::unique_ptr<Checkpoint> c = OpenOrDie(dir_.path());
  ASSERT_NE(c, nullptr);
  uint16_t bf16[3];
  uint16_t f16[3];
  ASSERT_TRUE(c->ReadRows("w", 0, 3, DType::kBF16, bf16).ok());
  ASSERT_TRUE(c->ReadRows("w", 0, 3, DType::kF16, f16).ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(bf16[i], FloatToBf16(values[i]));
    EXPECT_EQ(f16[i], FloatToF16(values[i]));
  }
}

TEST_F(CheckpointTest, UnalignedDataSection) {
  // A header of odd length leaves the data unaligned; reads must still be exact.
  std::string json = R"({"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}})";
  if (json.size() % 2 == 0) json += ' ';
  const std::vector<uint8_t> data = Encode(DType::kBF16, 4, 9);
  WriteBytes(dir_.File("model.safetensors"),
             SafetensorsBytes(json, std::string(data.begin(), data.end())));
  std::unique_ptr<Checkpoint> c = OpenOrDie(dir_.path());
  ASSERT_NE(c, nullptr);
  float out[2];
  ASSERT_TRUE(c->ReadColumns("w", 1, 2, DType::kF32, out).ok());
  EXPECT_EQ(out[0], Value(1, 9));
  EXPECT_EQ(out[1], Value(3, 9));
}

TEST_F(CheckpointTest, BytesReadCountsOnlyWhatWasRead) {
  WriteCheckpoint(dir_.path(), 1000);
  std::unique_ptr<Checkpoint> c = OpenOrDie(dir_.path());
  ASSERT_NE(c, nullptr);
  int64_t total = 0;
  for (const Spec& s : Specs()) total += s.count() * static_cast<int64_t>(DTypeSize(s.dtype));
  EXPECT_EQ(c->total_bytes(), total);
  EXPECT_EQ(c->bytes_read(), 0);
  std::vector<float> out(37 * 13);
  ASSERT_TRUE(c->ReadRows("model.embed_tokens.weight", 1, 3, DType::kF32, out.data()).ok());
  EXPECT_EQ(c->bytes_read(), 2 * 13 * 2);
  ASSERT_TRUE(c->ReadColumns("lm_head.weight", 0, 2, DType::kF32, out.data()).ok());
  EXPECT_EQ(c->bytes_read(), 2 * 13 * 2 + 37 * 2 * 4);
}

TEST_F(CheckpointTest, ReadErrorsNameTensorAndFile) {
  WriteCheckpoint(dir_.path(), 1 << 20);
  std::unique_ptr<Checkpoint> c = OpenOrDie(dir_.path());
  ASSERT_NE(c, nullptr);
  std::vector<float> out(1024);
  auto expect = [&](const absl::Status& s, absl::StatusCode code,
                    std::initializer_list<const char*> parts) {
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), code) << s;
    for (const char* part : parts) EXPECT_THAT(std::string(s.message()), HasSubstr(part));
  };
  const char* embed = "model.embed_tokens.weight";
  expect(c->ReadRows("nope", 0, 1, DType::kF32, out.data()), absl::StatusCode::kNotFound,
         {"\"nope\"", dir_.path().c_str()});
  expect(c->ReadRows(embed, 5, 4, DType::kF32, out.data()), absl::StatusCode::kInvalidArgument,
         {"model.safetensors", embed, "rows [5, 4)", "[37, 13]"});
  expect(c->ReadRows(embed, 0, 38, DType::kF32, out.data()), absl::StatusCode::kInvalidArgument,
         {"rows [0, 38)"});
  expect(c->ReadRows(embed, -1, 2, DType::kF32, out.data()), absl::StatusCode::kInvalidArgument,
         {"rows [-1, 2)"});
  expect(c->ReadColumns(embed, 10, 14, DType::kF32, out.data()), absl::StatusCode::kInvalidArgument,
         {"columns [10, 14)"});
  expect(c->ReadColumns("model.norm.weight", 0, 1, DType::kF32, out.data()),
         absl::StatusCode::kInvalidArgument, {"model.norm.weight", "[13]", "2-D"});
  expect(c->ReadRows(embed, 0, 1, DType::kI32, out.data()), absl::StatusCode::kInvalidArgument,
         {embed, "I32"});
  expect(c->ExpectShape(embed, {37, 12}), absl::StatusCode::kInvalidArgument,
         {"model.safetensors", embed, "[37, 13]", "[37, 12]"});
  EXPECT_TRUE(c->ExpectShape(embed, {37, 13}).ok());
}

TEST_F(CheckpointTest, RowsOfThreeDimensionalTensorAreRejected) {
  CheckpointWriter writer(dir_.path(), 1 << 20);
  ASSERT_TRUE(writer.AddTensor("cube", DType::kF32, {2, 2, 2}).ok());
  ASSERT_TRUE(writer.Begin().ok());
  const float zeros[8] = {};
  ASSERT_TRUE(writer.WriteData("cube", zeros, sizeof(zeros)).ok());
  ASSERT_TRUE(writer.Finish().ok());
  std::unique_ptr<Checkpoint> c = OpenOrDie(dir_.path());
  ASSERT_NE(c, nullptr);
  float out[8];
  absl::Status s = c->ReadRows("cube", 0, 1, DType::kF32, out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("[2, 2, 2]"));
}

TEST_F(CheckpointTest, NoCheckpointFiles) {
  absl::StatusOr<std::unique_ptr<Checkpoint>> c = Checkpoint::Open(dir_.path());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("model.safetensors.index.json"));
}

TEST_F(CheckpointTest, MissingShard) {
  WriteCheckpoint(dir_.path(), 1000);
  std::filesystem::remove(dir_.File("model-00002-of-00004.safetensors"));
  absl::StatusOr<std::unique_ptr<Checkpoint>> c = Checkpoint::Open(dir_.path());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  const std::string message(c.status().message());
  EXPECT_THAT(message, HasSubstr("model.safetensors.index.json"));
  EXPECT_THAT(message, HasSubstr("\"model-00002-of-00004.safetensors\""));
  EXPECT_THAT(message, HasSubstr("tensor \""));
}

// Writes an index mapping each of `tensors` to its shard, with one tiny valid shard.
void WriteIndex(const TempDir& dir, const std::string& weight_map) {
  WriteBytes(dir.File("model.safetensors.index.json"),
             R"({"metadata": {"total_size": 4}, "weight_map": )" + weight_map + "}");
}

TEST_F(CheckpointTest, TensorListedInIndexButAbsentFromShard) {
  WriteBytes(dir_.File("a.safetensors"),
             SafetensorsBytes(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                              std::string(4, '\0')));
  WriteIndex(dir_, R"({"x": "a.safetensors", "ghost": "a.safetensors"})");
  std::unique_ptr<Checkpoint> c = OpenOrDie(dir_.path());
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->Has("ghost"));
  EXPECT_TRUE(c->Info("x").ok());
  absl::StatusOr<TensorInfo> ghost = c->Info("ghost");
  ASSERT_FALSE(ghost.ok());
  EXPECT_THAT(std::string(ghost.status().message()), HasSubstr("\"ghost\""));
  EXPECT_THAT(std::string(ghost.status().message()), HasSubstr("a.safetensors"));
  absl::Status validated = c->Validate();
  ASSERT_FALSE(validated.ok());
  EXPECT_THAT(std::string(validated.message()), HasSubstr("\"ghost\""));
}

TEST_F(CheckpointTest, ShardsOpenLazily) {
  WriteBytes(dir_.File("good.safetensors"),
             SafetensorsBytes(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                              std::string(4, '\0')));
  WriteBytes(dir_.File("bad.safetensors"), SafetensorsBytes("{not json", ""));
  WriteIndex(dir_, R"({"x": "good.safetensors", "y": "bad.safetensors"})");
  std::unique_ptr<Checkpoint> c = OpenOrDie(dir_.path());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->total_bytes(), 4);
  float x = 1;
  EXPECT_TRUE(c->ReadRows("x", 0, 1, DType::kF32, &x).ok());
  EXPECT_EQ(x, 0.0f);
  absl::Status y = c->ExpectShape("y", {1});
  ASSERT_FALSE(y.ok());
  EXPECT_THAT(std::string(y.message()), HasSubstr("bad.safetensors"));
  EXPECT_THAT(std::string(y.message()), HasSubstr("JSON"));
  EXPECT_FALSE(c->ExpectShape("y", {1}).ok());  // the failure is remembered
}

TEST_F(CheckpointTest, MalformedIndex) {
  struct Case {
    std::string text;
    const char* part;
  };
  const Case cases[] = {
      {"{\"weight_map\": ", "invalid JSON"},
      {"[]", "object"},
      {"{\"metadata\": {}}", "weight_map"},
      {R"({"weight_map": {}})", "empty"},
      {R"({"weight_map": {"x": 3}})", "\"x\""},
      {R"({"weight_map": {"x": "../secret.safetensors"}})", "\"x\""},
      {R"({"metadata": {"total_size": "big"}, "weight_map": {"x": "a.safetensors"}})",
       "total_size"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.text);
    WriteBytes(dir_.File("model.safetensors.index.json"), k.text);
    absl::StatusOr<std::unique_ptr<Checkpoint>> c = Checkpoint::Open(dir_.path());
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("model.safetensors.index.json"));
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(k.part));
  }
}

TEST_F(CheckpointTest, SingleFileErrorsSurfaceAtOpen) {
  WriteBytes(dir_.File("model.safetensors"),
             SafetensorsBytes(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})",
                              std::string(10, '\0')));
  absl::StatusOr<std::unique_ptr<Checkpoint>> c = Checkpoint::Open(dir_.path());
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("model.safetensors: tensor \"w\""));
}

}  // namespace
}  // namespace tspserve
