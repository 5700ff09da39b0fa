#include "models/checkpoint/safetensors_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tspserve {
namespace {

using Json = nlohmann::ordered_json;

constexpr size_t kFileBufferBytes = size_t{1} << 20;

}  // namespace

SafetensorsWriter::~SafetensorsWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(partial_path_.c_str());
  }
}

absl::Status SafetensorsWriter::AddTensor(std::string name, DType dtype,
                                          std::vector<int64_t> shape) {
  if (!path_.empty()) return absl::FailedPreconditionError("AddTensor after Open");
  if (name.empty() || name == "__metadata__") {
    return absl::InvalidArgumentError(absl::StrCat("invalid tensor name \"", name, "\""));
  }
  if (names_.count(name) > 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor \"", name, "\" declared twice"));
  }
  TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  uint64_t bytes = DTypeSize(dtype);
  for (int64_t d : t.shape) {
    if (d < 0 || __builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor \"", t.name, "\": invalid shape ", ShapeToString(t.shape)));
    }
  }
  t.data_begin = data_bytes_;
  t.data_end = data_bytes_ + bytes;
  data_bytes_ = t.data_end;
  names_.insert(t.name);
  tensors_.push_back(std::move(t));
  return absl::OkStatus();
}

std::string SafetensorsWriter::HeaderJson(
    const std::map<std::string, std::string>& metadata) const {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json& m = header["__metadata__"];
    for (const auto& [key, value] : metadata) m[key] = value;
  }
  for (const TensorInfo& t : tensors_) {
    header[t.name] = Json{{"dtype", std::string(DTypeName(t.dtype))},
                          {"shape", t.shape},
                          {"data_offsets", {t.data_begin, t.data_end}}};
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // data section starts 8-byte aligned
  return json;
}

absl::Status SafetensorsWriter::Open(const std::string& path,
                                     const std::map<std::string, std::string>& metadata) {
  if (!path_.empty()) return absl::FailedPreconditionError("Open called twice");
  path_ = path;
  partial_path_ = absl::StrCat(path, ".partial");
  file_ = std::fopen(partial_path_.c_str(), "wb");
  if (file_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", partial_path_, ": ", std::strerror(errno)));
  }
  std::setvbuf(file_, nullptr, _IOFBF, kFileBufferBytes);
  const std::string json = HeaderJson(metadata);
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(json.size() >> (8 * i));
  if (std::fwrite(length, 1, 8, file_) != 8 ||
      std::fwrite(json.data(), 1, json.size(), file_) != json.size()) {
    return Fail("cannot write the header");
  }
  SkipCompleteTensors();
  return absl::OkStatus();
}

void SafetensorsWriter::SkipCompleteTensors() {
  while (current_ < tensors_.size() && current_done_ == tensors_[current_].num_bytes()) {
    ++current_;
    current_done_ = 0;
  }
}

bool SafetensorsWriter::complete() const { return !path_.empty() && current_ == tensors_.size(); }

absl::Status SafetensorsWriter::WriteData(std::string_view name, const void* data, size_t bytes) {
  if (file_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(path_, ": not open"));
  if (bytes == 0 && names_.count(name) > 0) return absl::OkStatus();
  if (current_ == tensors_.size() || tensors_[current_].name != name) {
    return absl::FailedPreconditionError(absl::StrCat(
        path_, ": data for tensor \"", std::string(name), "\" out of order; expected \"",
        current_ == tensors_.size() ? "<none: all written>" : tensors_[current_].name, "\""));
  }
  const TensorInfo& t = tensors_[current_];
  if (bytes > t.num_bytes() - current_done_) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": tensor \"", t.name, "\": ", bytes,
                                                   " bytes exceed the ",
                                                   t.num_bytes() - current_done_, " remaining"));
  }
  if (std::fwrite(data, 1, bytes, file_) != bytes) return Fail("write failed");
  current_done_ += bytes;
  SkipCompleteTensors();
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::Close() {
  if (file_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(path_, ": not open"));
  if (!complete()) {
    return absl::FailedPreconditionError(absl::StrCat(path_, ": Close before the data of tensor \"",
                                                      tensors_[current_].name, "\" was written"));
  }
  std::FILE* file = file_;
  file_ = nullptr;
  if (std::fclose(file) != 0) {
    std::remove(partial_path_.c_str());
    return absl::UnavailableError(
        absl::StrCat("cannot write ", partial_path_, ": ", std::strerror(errno)));
  }
  if (std::rename(partial_path_.c_str(), path_.c_str()) != 0) {
    std::remove(partial_path_.c_str());
    return absl::UnavailableError(
        absl::StrCat("cannot rename ", partial_path_, " to ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::Fail(std::string_view what) {
  const std::string reason = std::strerror(errno);
  std::fclose(file_);
  file_ = nullptr;
  std::remove(partial_path_.c_str());
  return absl::UnavailableError(absl::StrCat(partial_path_, ": ", std::string(what), ": ", reason));
}

}  // namespace tspserve
