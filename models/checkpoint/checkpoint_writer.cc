#include "models/checkpoint/checkpoint_writer.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/common/status.h"
#include "models/checkpoint/checkpoint.h"
#include "models/checkpoint/checkpoint_index.h"

namespace tspserve {

CheckpointWriter::CheckpointWriter(std::string dir, uint64_t max_shard_bytes)
    : dir_(std::move(dir)), max_shard_bytes_(max_shard_bytes) {}

absl::Status CheckpointWriter::AddTensor(std::string name, DType dtype,
                                         std::vector<int64_t> shape) {
  if (!shards_.empty()) return absl::FailedPreconditionError("AddTensor after Begin");
  return declared_.AddTensor(std::move(name), dtype, std::move(shape));
}

void CheckpointWriter::PlanShards() {
  const std::vector<TensorInfo>& tensors = declared_.tensors();
  std::vector<Shard> shards(1);
  uint64_t shard_bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t bytes = tensors[i].num_bytes();
    if (!shards.back().tensors.empty() && shard_bytes + bytes > max_shard_bytes_) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().tensors.push_back(i);
    shard_bytes += bytes;
  }
  const size_t n = shards.size();
  for (size_t s = 0; s < n; ++s) {
    shards[s].file_name = n == 1 ? kSingleCheckpointFile
                                 : absl::StrFormat("model-%05d-of-%05d.safetensors", s + 1, n);
  }
  shards_ = std::move(shards);
}

absl::Status CheckpointWriter::OpenShard(size_t shard) {
  current_ = shard;
  writer_ = std::make_unique<SafetensorsWriter>();
  for (size_t i : shards_[shard].tensors) {
    const TensorInfo& t = declared_.tensors()[i];
    RETURN_IF_ERROR(writer_->AddTensor(t.name, t.dtype, t.shape));
  }
  return writer_->Open(absl::StrCat(dir_, "/", shards_[shard].file_name), metadata_);
}

absl::Status CheckpointWriter::Begin(std::map<std::string, std::string> metadata) {
  if (!shards_.empty()) return absl::FailedPreconditionError("Begin called twice");
  if (declared_.tensors().empty()) return absl::FailedPreconditionError("no tensors declared");
  metadata_ = std::move(metadata);
  PlanShards();
  return OpenShard(0);
}

absl::Status CheckpointWriter::WriteData(std::string_view name, const void* data, size_t bytes) {
  if (writer_ == nullptr) return absl::FailedPreconditionError("WriteData before Begin");
  if (writer_->complete() && current_ + 1 < shards_.size()) {
    RETURN_IF_ERROR(writer_->Close());
    RETURN_IF_ERROR(OpenShard(current_ + 1));
  }
  return writer_->WriteData(name, data, bytes);
}

absl::Status CheckpointWriter::WriteIndex() const {
  CheckpointIndex index;
  int64_t total = 0;
  for (const Shard& shard : shards_) {
    for (size_t i : shard.tensors) {
      const TensorInfo& t = declared_.tensors()[i];
      index.weight_map[t.name] = shard.file_name;
      total += static_cast<int64_t>(t.num_bytes());
    }
  }
  index.total_size = total;
  const std::string path = absl::StrCat(dir_, "/", kCheckpointIndexFile);
  const std::string json = CheckpointIndexToJson(index);
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return absl::UnavailableError(absl::StrCat("cannot create ", path));
  const bool written = std::fwrite(json.data(), 1, json.size(), file) == json.size();
  if (std::fclose(file) != 0 || !written) {
    return absl::UnavailableError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

absl::Status CheckpointWriter::Finish() {
  if (writer_ == nullptr) return absl::FailedPreconditionError("Finish before Begin");
  if (current_ + 1 < shards_.size() || !writer_->complete()) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir_, ": Finish before every tensor's data was written"));
  }
  RETURN_IF_ERROR(writer_->Close());
  writer_.reset();
  if (shards_.size() > 1) RETURN_IF_ERROR(WriteIndex());
  return absl::OkStatus();
}

std::vector<std::string> CheckpointWriter::shard_files() const {
  std::vector<std::string> names;
  for (const Shard& shard : shards_) names.push_back(shard.file_name);
  return names;
}

}  // namespace tspserve
