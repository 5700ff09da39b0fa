#include "engine/kv/block_pool.h"

#include "absl/strings/str_cat.h"
#include "engine/common/check.h"

namespace tspserve {

BlockPool::BlockPool(int32_t num_blocks) {
  CHECK_GE(num_blocks, 0);
  const size_t count = static_cast<uint32_t>(num_blocks);
  ref_counts_.resize(count, 0);
  free_list_.resize(count);
  for (size_t i = 0; i < count; ++i) free_list_[i] = static_cast<int32_t>(count - 1 - i);
}

std::optional<int32_t> BlockPool::Allocate() {
  if (free_list_.empty()) return std::nullopt;
  const int32_t block = free_list_.back();
  free_list_.pop_back();
  ref_counts_[static_cast<size_t>(block)] = 1;
  return block;
}

void BlockPool::AddRef(int32_t block) {
  CHECK_GT(ref_count(block), 0) << "AddRef on free block " << block;
  ++ref_counts_[static_cast<size_t>(block)];
}

bool BlockPool::Release(int32_t block) {
  CHECK_GT(ref_count(block), 0) << "Release of free block " << block;
  if (--ref_counts_[static_cast<size_t>(block)] > 0) return false;
  free_list_.push_back(block);
  return true;
}

int32_t BlockPool::ref_count(int32_t block) const {
  CHECK(block >= 0 && block < num_blocks()) << "block " << block << " out of range";
  return ref_counts_[static_cast<size_t>(block)];
}

absl::Status BlockPool::CheckIntegrity() const {
  std::vector<bool> on_free_list(ref_counts_.size(), false);
  for (int32_t block : free_list_) {
    if (block < 0 || block >= num_blocks()) {
      return absl::InternalError(absl::StrCat("free list holds out-of-range block ", block));
    }
    if (on_free_list[static_cast<size_t>(block)]) {
      return absl::InternalError(absl::StrCat("block ", block, " is on the free list twice"));
    }
    if (ref_counts_[static_cast<size_t>(block)] != 0) {
      return absl::InternalError(absl::StrCat("free block ", block, " has reference count ",
                                              ref_counts_[static_cast<size_t>(block)]));
    }
    on_free_list[static_cast<size_t>(block)] = true;
  }
  for (size_t b = 0; b < ref_counts_.size(); ++b) {
    if (ref_counts_[b] < 0 || (ref_counts_[b] == 0 && !on_free_list[b])) {
      return absl::InternalError(absl::StrCat("block ", b, " has reference count ", ref_counts_[b],
                                              " but is not on the free list"));
    }
  }
  return absl::OkStatus();
}

}  // namespace tspserve
