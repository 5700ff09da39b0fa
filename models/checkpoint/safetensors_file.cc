#include "models/checkpoint/safetensors_file.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"

namespace tspserve {
namespace {

uint64_t ReadLittleEndian64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

SafetensorsFile::SafetensorsFile(std::unique_ptr<MappedFile> file, SafetensorsHeader header,
                                 uint64_t data_offset)
    : file_(std::move(file)), header_(std::move(header)), data_offset_(data_offset) {
  for (size_t i = 0; i < header_.tensors.size(); ++i) by_name_[header_.tensors[i].name] = i;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  const uint64_t size = file->size();
  if (size < 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", size, "-byte file is too short for the 8-byte header length (truncated?)"));
  }
  const uint64_t header_bytes = ReadLittleEndian64(file->data());
  if (header_bytes > size - 8) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_bytes,
                                                   " runs past the end of the ", size,
                                                   "-byte file (truncated or not safetensors?)"));
  }
  if (header_bytes > kMaxSafetensorsHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_bytes,
                                                   " exceeds the limit of ",
                                                   kMaxSafetensorsHeaderBytes));
  }
  const std::string_view json(reinterpret_cast<const char*>(file->data()) + 8, header_bytes);
  ASSIGN_OR_RETURN(SafetensorsHeader header,
                   ParseSafetensorsHeader(json, size - 8 - header_bytes, path));
  return std::unique_ptr<SafetensorsFile>(
      new SafetensorsFile(std::move(file), std::move(header), 8 + header_bytes));
}

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &header_.tensors[it->second];
}

}  // namespace tspserve
