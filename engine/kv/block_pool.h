// A fixed set of KV-cache block ids with reference counts. One pool per rank; a block is shared by
// several sequences after a fork and is written only after copy-on-write (see PagedKvCache).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"

namespace tspserve {

class BlockPool {
 public:
  // Blocks are the ids [0, num_blocks); num_blocks >= 0. All start free.
  explicit BlockPool(int32_t num_blocks);

  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // Takes a free block and gives it reference count 1; nullopt when none is free. Fresh pools hand
  // out ids in increasing order; released blocks are reused most-recently-freed first.
  std::optional<int32_t> Allocate();
  // One more holder of an allocated block.
  void AddRef(int32_t block);
  // One holder fewer; the block returns to the free list at 0. Returns true when it was freed.
  bool Release(int32_t block);

  int32_t num_blocks() const { return static_cast<int32_t>(ref_counts_.size()); }
  int32_t num_free() const { return static_cast<int32_t>(free_list_.size()); }
  // 0 for a free block.
  int32_t ref_count(int32_t block) const;

  // Free list holds exactly the blocks with reference count 0, each once.
  absl::Status CheckIntegrity() const;

 private:
  std::vector<int32_t> ref_counts_;  // [num_blocks]
  std::vector<int32_t> free_list_;   // a stack; back() is allocated next
};

}  // namespace tspserve
