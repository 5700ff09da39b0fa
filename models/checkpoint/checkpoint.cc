#include "models/checkpoint/checkpoint.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"
#include "models/checkpoint/checkpoint_index.h"
#include "models/checkpoint/element_convert.h"

namespace tspserve {
namespace {

// The size of a regular file, or nullopt when there is none at `path`.
std::optional<int64_t> RegularFileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return static_cast<int64_t>(st.st_size);
}

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || in.bad()) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  return text.str();
}

absl::Status TensorError(const SafetensorsFile& file, const TensorInfo& t, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(file.path(), ": tensor \"", t.name, "\" ", std::string(what)));
}

absl::Status CheckConvertible(const SafetensorsFile& file, const TensorInfo& t, DType dst) {
  if (!IsFloatDType(dst)) {
    return TensorError(file, t,
                       absl::StrCat("cannot be read as ", std::string(DTypeName(dst)),
                                    " (F32, F16 or BF16 only)"));
  }
  if (t.dtype != dst && !IsFloatDType(t.dtype)) {
    return TensorError(file, t,
                       absl::StrCat("is ", std::string(DTypeName(t.dtype)),
                                    " and cannot be converted to ", std::string(DTypeName(dst))));
  }
  return absl::OkStatus();
}

absl::Status CheckRange(const SafetensorsFile& file, const TensorInfo& t, const char* what,
                        int64_t begin, int64_t end, int64_t limit) {
  if (begin < 0 || begin > end || end > limit) {
    return TensorError(file, t,
                       absl::StrCat(what, " [", begin, ", ", end, ") out of range for shape ",
                                    ShapeToString(t.shape)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& model_dir) {
  std::unique_ptr<Checkpoint> checkpoint(new Checkpoint(model_dir));
  const std::string single = absl::StrCat(model_dir, "/", kSingleCheckpointFile);
  const std::string index = absl::StrCat(model_dir, "/", kCheckpointIndexFile);
  if (RegularFileSize(single)) {
    ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(single));
    RETURN_IF_ERROR(checkpoint->OpenSingle(std::move(file)));
  } else if (RegularFileSize(index)) {
    RETURN_IF_ERROR(checkpoint->OpenIndex(index));
  } else {
    return absl::NotFoundError(
        absl::StrCat(model_dir, ": no ", kSingleCheckpointFile, " or ", kCheckpointIndexFile));
  }
  return checkpoint;
}

absl::Status Checkpoint::OpenSingle(std::unique_ptr<SafetensorsFile> file) {
  for (const TensorInfo& t : file->tensors()) {
    tensor_shard_[t.name] = 0;
    total_bytes_ += static_cast<int64_t>(t.num_bytes());
  }
  Shard& shard = shards_.emplace_back();
  shard.path = file->path();
  shard.file = std::move(file);
  shard.opened = true;
  return absl::OkStatus();
}

absl::Status Checkpoint::OpenIndex(const std::string& index_path) {
  index_path_ = index_path;
  ASSIGN_OR_RETURN(std::string text, ReadText(index_path));
  ASSIGN_OR_RETURN(CheckpointIndex index, ParseCheckpointIndex(text, index_path));
  std::map<std::string, size_t> shard_ids;
  int64_t file_bytes = 0;
  for (const auto& [tensor, shard_name] : index.weight_map) {
    auto [it, inserted] = shard_ids.emplace(shard_name, shards_.size());
    if (inserted) {
      const std::string path = absl::StrCat(dir_, "/", shard_name);
      std::optional<int64_t> size = RegularFileSize(path);
      if (!size) {
        return absl::NotFoundError(absl::StrCat(index_path, ": shard \"", shard_name,
                                                "\" (holding tensor \"", tensor,
                                                "\") does not exist in ", dir_));
      }
      file_bytes += *size;
      shards_.emplace_back().path = path;
    }
    tensor_shard_[tensor] = it->second;
  }
  total_bytes_ = index.total_size.value_or(file_bytes);
  return absl::OkStatus();
}

absl::StatusOr<const SafetensorsFile*> Checkpoint::ShardFile(size_t shard_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  Shard& shard = shards_[shard_id];
  if (!shard.opened) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(shard.path);
    shard.opened = true;
    if (file.ok()) {
      shard.file = *std::move(file);
    } else {
      shard.status = file.status();
    }
  }
  if (!shard.status.ok()) return shard.status;
  return shard.file.get();
}

absl::StatusOr<Checkpoint::Located> Checkpoint::Locate(std::string_view name) const {
  auto it = tensor_shard_.find(name);
  if (it == tensor_shard_.end()) {
    return absl::NotFoundError(
        absl::StrCat(dir_, ": checkpoint has no tensor \"", std::string(name), "\""));
  }
  ASSIGN_OR_RETURN(const SafetensorsFile* file, ShardFile(it->second));
  const TensorInfo* info = file->Find(name);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat(index_path_, ": weight_map places tensor \"",
                                            std::string(name), "\" in ", file->path(),
                                            ", which does not hold it"));
  }
  return Located{file, info};
}

bool Checkpoint::Has(std::string_view name) const {
  return tensor_shard_.find(name) != tensor_shard_.end();
}

std::vector<std::string> Checkpoint::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(tensor_shard_.size());
  for (const auto& [name, shard] : tensor_shard_) names.push_back(name);
  return names;
}

absl::StatusOr<TensorInfo> Checkpoint::Info(std::string_view name) const {
  ASSIGN_OR_RETURN(Located t, Locate(name));
  return *t.info;
}

absl::Status Checkpoint::ReadRows(std::string_view name, int64_t row_begin, int64_t row_end,
                                  DType dst_dtype, void* dst) const {
  ASSIGN_OR_RETURN(Located t, Locate(name));
  const TensorInfo& info = *t.info;
  if (info.shape.size() != 1 && info.shape.size() != 2) {
    return TensorError(*t.file, info,
                       absl::StrCat("has shape ", ShapeToString(info.shape),
                                    "; rows can be read only from 1-D or 2-D"));
  }
  RETURN_IF_ERROR(CheckConvertible(*t.file, info, dst_dtype));
  RETURN_IF_ERROR(CheckRange(*t.file, info, "rows", row_begin, row_end, info.shape[0]));
  const int64_t cols = info.shape.size() == 2 ? info.shape[1] : 1;
  const int64_t count = (row_end - row_begin) * cols;
  const size_t src_size = DTypeSize(info.dtype);
  ConvertElements(info.dtype, t.file->Data(info) + row_begin * cols * src_size, count, dst_dtype,
                  dst);
  bytes_read_.fetch_add(count * static_cast<int64_t>(src_size), std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status Checkpoint::ReadColumns(std::string_view name, int64_t col_begin, int64_t col_end,
                                     DType dst_dtype, void* dst) const {
  ASSIGN_OR_RETURN(Located t, Locate(name));
  const TensorInfo& info = *t.info;
  if (info.shape.size() != 2) {
    return TensorError(*t.file, info,
                       absl::StrCat("has shape ", ShapeToString(info.shape),
                                    "; columns can be read only from 2-D"));
  }
  RETURN_IF_ERROR(CheckConvertible(*t.file, info, dst_dtype));
  RETURN_IF_ERROR(CheckRange(*t.file, info, "columns", col_begin, col_end, info.shape[1]));
  const int64_t rows = info.shape[0];
  const int64_t cols = info.shape[1];
  const int64_t width = col_end - col_begin;
  const size_t src_size = DTypeSize(info.dtype);
  const size_t dst_size = DTypeSize(dst_dtype);
  const uint8_t* src = t.file->Data(info) + col_begin * src_size;
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t r = 0; r < rows; ++r) {
    ConvertElements(info.dtype, src + r * cols * src_size, width, dst_dtype,
                    out + r * width * dst_size);
  }
  bytes_read_.fetch_add(rows * width * static_cast<int64_t>(src_size), std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status Checkpoint::ExpectShape(std::string_view name, std::vector<int64_t> shape) const {
  ASSIGN_OR_RETURN(Located t, Locate(name));
  if (t.info->shape == shape) return absl::OkStatus();
  return TensorError(*t.file, *t.info,
                     absl::StrCat("has shape ", ShapeToString(t.info->shape), " but ",
                                  ShapeToString(shape), " was expected"));
}

absl::Status Checkpoint::Validate() const {
  for (const auto& [name, shard] : tensor_shard_) {
    RETURN_IF_ERROR(Locate(name).status());
  }
  return absl::OkStatus();
}

}  // namespace tspserve
