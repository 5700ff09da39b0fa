#include "models/checkpoint/safetensors_file.h"

#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/models/checkpoint/test_files.h"

namespace tspserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class SafetensorsFileTest : public ::testing::Test {
 protected:
  // Writes `bytes` as x.safetensors and opens it.
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> OpenBytes(const std::string& bytes) {
    WriteBytes(path_, bytes);
    return SafetensorsFile::Open(path_);
  }
  // Expects Open to fail with InvalidArgument naming the file and every one of `parts`.
  void ExpectError(const std::string& bytes, std::initializer_list<const char*> parts) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = OpenBytes(bytes);
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << file.status();
    const std::string message(file.status().message());
    EXPECT_THAT(message, HasSubstr(path_));
    for (const char* part : parts) EXPECT_THAT(message, HasSubstr(part));
  }

  TempDir dir_;
  std::string path_ = dir_.File("x.safetensors");
};

constexpr char kTwoTensors[] =
    R"({"__metadata__": {"format": "pt"},)"
    R"( "b": {"dtype": "BF16", "shape": [3], "data_offsets": [8, 14]},)"
    R"( "a": {"dtype": "F32", "shape": [2, 1], "data_offsets": [0, 8]}})";

TEST_F(SafetensorsFileTest, OpensValidFile) {
  const std::string data = "AAAABBBBccddee";
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
      OpenBytes(SafetensorsBytes(kTwoTensors, data));
  ASSERT_TRUE(file.ok()) << file.status();
  const SafetensorsFile& f = **file;
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.tensors()[0].name, "a");  // data order, not header order
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const TensorInfo* b = f.Find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::kBF16);
  EXPECT_THAT(b->shape, ElementsAre(3));
  EXPECT_EQ(b->num_elements(), 3);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f.Data(*b)), b->num_bytes()), "ccddee");
  EXPECT_EQ(f.Find("c"), nullptr);
}

TEST_F(SafetensorsFileTest, ScalarsAndEmptyTensors) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = OpenBytes(
      SafetensorsBytes(R"({"s": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]},)"
                       R"( "e": {"dtype": "F16", "shape": [0, 5], "data_offsets": [8, 8]}})",
                       "12345678"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->Find("s")->num_elements(), 1);
  EXPECT_EQ((*file)->Find("e")->num_bytes(), 0u);
}

TEST_F(SafetensorsFileTest, EmptyHeaderObjectIsValid) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = OpenBytes(SafetensorsBytes("{}", ""));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->tensors().empty());
}

TEST_F(SafetensorsFileTest, MissingFileIsNotFound) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
      SafetensorsFile::Open(dir_.File("absent.safetensors"));
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("absent.safetensors"));
}

TEST_F(SafetensorsFileTest, TooShortForHeaderLength) {
  ExpectError("", {"too short"});
  ExpectError(std::string("\x05\0\0", 3), {"too short"});
}

TEST_F(SafetensorsFileTest, HeaderLengthPastEndOfFile) {
  ExpectError(SafetensorsBytes("{}", "", 3), {"header length 3", "10-byte file"});
  ExpectError(SafetensorsBytes("{}", "", int64_t{1} << 62), {"runs past the end"});
}

TEST_F(SafetensorsFileTest, BadJson) {
  ExpectError(SafetensorsBytes(R"({"a": {"dtype": "F32",)", ""), {"not valid JSON"});
  ExpectError(SafetensorsBytes("[1, 2]", ""), {"must be a JSON object"});
}

TEST_F(SafetensorsFileTest, UnknownDtype) {
  ExpectError(
      SafetensorsBytes(R"({"w": {"dtype": "F17", "shape": [1], "data_offsets": [0, 4]}})", "abcd"),
      {"tensor \"w\"", "F17"});
  ExpectError(
      SafetensorsBytes(R"({"w": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", "abcd"),
      {"tensor \"w\"", "dtype"});
}

TEST_F(SafetensorsFileTest, OffsetsNotMatchingShape) {
  ExpectError(
      SafetensorsBytes(R"({"w": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 8]}})",
                       "abcdefgh"),
      {"tensor \"w\"", "hold 8 bytes", "F16 [2, 3] needs 12"});
}

TEST_F(SafetensorsFileTest, MalformedEntries) {
  ExpectError(SafetensorsBytes(R"({"w": [1, 2]})", ""), {"tensor \"w\"", "object"});
  ExpectError(SafetensorsBytes(R"({"w": {"dtype": "U8", "data_offsets": [0, 1]}})", "a"),
              {"tensor \"w\"", "\"shape\" is missing"});
  ExpectError(
      SafetensorsBytes(R"({"w": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}})", "a"),
      {"tensor \"w\"", "non-negative"});
  ExpectError(SafetensorsBytes(R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0]}})", "a"),
              {"tensor \"w\"", "data_offsets"});
  ExpectError(
      SafetensorsBytes(R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [1, 0]}})", "a"),
      {"tensor \"w\"", "end before they begin"});
  ExpectError(SafetensorsBytes(R"({"__metadata__": {"step": 3}})", ""), {"__metadata__", "step"});
}

TEST_F(SafetensorsFileTest, HugeShapeDoesNotOverflow) {
  ExpectError(
      SafetensorsBytes(
          R"({"w": {"dtype": "F32", "shape": [4611686018427387904, 8], "data_offsets": [0, 4]}})",
          "abcd"),
      {"tensor \"w\"", "too large"});
}

TEST_F(SafetensorsFileTest, OffsetsPastDataSection) {
  ExpectError(SafetensorsBytes(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                               "abcdefgh"),
              {"tensor \"w\"", "past the end of the 8-byte data section"});
}

TEST_F(SafetensorsFileTest, TruncatedFile) {
  std::string bytes = SafetensorsBytes(kTwoTensors, "AAAABBBBccddee");
  bytes.resize(bytes.size() - 3);
  ExpectError(bytes, {"tensor \"b\"", "truncated"});
}

TEST_F(SafetensorsFileTest, OverlappingOffsets) {
  ExpectError(SafetensorsBytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                               R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                               "abcdefghijkl"),
              {"tensor \"b\"", "overlap tensor \"a\""});
}

TEST_F(SafetensorsFileTest, GapsAndTrailingBytes) {
  ExpectError(SafetensorsBytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                               "abcdefgh"),
              {"tensor \"a\"", "gap"});
  ExpectError(SafetensorsBytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                               "abcdefgh"),
              {"cover 4 bytes", "holds 8"});
}

}  // namespace
}  // namespace tspserve
