// A Hugging Face model directory's weights: `model.safetensors`, or the shards listed by
// `model.safetensors.index.json`. Shards are mapped lazily on first use and only the bytes a
// caller reads are touched. All const methods are safe to call from several threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/common/dtype.h"
#include "models/checkpoint/safetensors_file.h"

namespace tspserve {

inline constexpr char kSingleCheckpointFile[] = "model.safetensors";
inline constexpr char kCheckpointIndexFile[] = "model.safetensors.index.json";

class Checkpoint {
 public:
  // Prefers model.safetensors (as transformers does), else reads the index; every shard the
  // index names must exist. Errors name the directory or file and the tensor at fault.
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& model_dir);

  const std::string& dir() const { return dir_; }
  bool Has(std::string_view name) const;
  std::vector<std::string> TensorNames() const;  // sorted
  absl::StatusOr<TensorInfo> Info(std::string_view name) const;

  // Reads rows [row_begin, row_end) of a 1-D (rows are elements) or 2-D tensor, converted to
  // `dst_dtype` (F32/F16/BF16), into `dst`: [row_end - row_begin, cols], contiguous.
  absl::Status ReadRows(std::string_view name, int64_t row_begin, int64_t row_end, DType dst_dtype,
                        void* dst) const;
  // Reads columns [col_begin, col_end) of every row of a 2-D tensor [rows, cols] into
  // `dst`: [rows, col_end - col_begin], contiguous, converted to `dst_dtype`.
  absl::Status ReadColumns(std::string_view name, int64_t col_begin, int64_t col_end,
                           DType dst_dtype, void* dst) const;
  // An error naming the tensor, its file and both shapes unless the shape is `shape`.
  absl::Status ExpectShape(std::string_view name, std::vector<int64_t> shape) const;

  // Maps every shard and checks that each holds the tensors the index assigns to it (the
  // readers check this lazily per tensor).
  absl::Status Validate() const;

  // Expected bytes of all tensors (the index's total_size, else the shard file sizes): the
  // denominator for load progress.
  int64_t total_bytes() const { return total_bytes_; }
  // Source bytes read so far by ReadRows and ReadColumns.
  int64_t bytes_read() const { return bytes_read_.load(std::memory_order_relaxed); }

 private:
  struct Shard {
    std::string path;
    bool opened = false;  // guarded by mu_; `file` or `status` is set once opened
    std::unique_ptr<SafetensorsFile> file;
    absl::Status status;
  };
  struct Located {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };

  explicit Checkpoint(std::string dir) : dir_(std::move(dir)) {}
  absl::Status OpenSingle(std::unique_ptr<SafetensorsFile> file);
  absl::Status OpenIndex(const std::string& index_path);

  absl::StatusOr<const SafetensorsFile*> ShardFile(size_t shard) const;
  // The tensor, its shard mapped; an error when unknown or absent from its shard.
  absl::StatusOr<Located> Locate(std::string_view name) const;

  std::string dir_;
  std::string index_path_;  // empty for a single-file checkpoint
  mutable std::mutex mu_;
  mutable std::vector<Shard> shards_;  // fixed after Open; members guarded by mu_
  std::map<std::string, size_t, std::less<>> tensor_shard_;  // name -> index into shards_
  int64_t total_bytes_ = 0;
  mutable std::atomic<int64_t> bytes_read_{0};
};

}  // namespace tspserve
