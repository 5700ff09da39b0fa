// ShardedKvCache: the KV page bookkeeping of all N ranks, kept on the engine thread (plan on the
// CPU), with the placement rule of the parallel mode:
//   kSequenceSharded (TSP, SP): each token's K/V lives on one rank: a prompt written from position 0
//     is split zig-zag (page-aligned), later tokens go to the last page's rank while it has room,
//     else to the rank with the fewest pages of the sequence (DESIGN.md 1.2).
//   kReplicated (TP): every rank holds every token (its own K/V heads), in the same slots.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kv/paged_kv_cache.h"

namespace tspserve {

enum class KvPlacement { kSequenceSharded, kReplicated };

// Where one token's K/V goes: `rank` (every rank when the placement is replicated) and its slot.
struct TokenSlot {
  int32_t rank;
  int64_t slot;
};

class ShardedKvCache {
 public:
  ShardedKvCache(int32_t degree, int32_t num_blocks_per_rank, int32_t block_size,
                 KvPlacement placement);

  int32_t degree() const { return static_cast<int32_t>(ranks_.size()); }
  KvPlacement placement() const { return placement_; }
  int32_t block_size() const { return ranks_[0]->block_size(); }

  // The rank of each of the tokens at positions [first, first + count) (-1 when replicated).
  std::vector<int32_t> RanksFor(SeqId id, int32_t first, int32_t count) const;
  // Pages each rank must allocate to hold them.
  std::vector<int32_t> PagesNeeded(SeqId id, int32_t first, int32_t count) const;
  // Whether every rank has those pages free after `reserved[r]` pages already promised this step.
  bool Fits(SeqId id, int32_t first, int32_t count, std::vector<int32_t>& reserved) const;
  // Reserves the slots; all or nothing (ResourceExhausted leaves every rank unchanged).
  absl::StatusOr<std::vector<TokenSlot>> Append(SeqId id, int32_t first, int32_t count);
  void Free(SeqId id);
  // Drops the sequence's tokens at positions >= num_positions_kept on every rank.
  void Truncate(SeqId id, int32_t num_positions_kept);
  bool Contains(SeqId id) const;  // on any rank

  PagedKvCache& rank(int32_t r) { return *ranks_[static_cast<size_t>(r)]; }
  const PagedKvCache& rank(int32_t r) const { return *ranks_[static_cast<size_t>(r)]; }
  // The most tokens one sequence could ever hold.
  int64_t capacity_tokens() const;
  int32_t num_used_blocks() const;
  absl::Status CheckIntegrity() const;

 private:
  int32_t NumTokens(SeqId id) const;

  KvPlacement placement_;
  std::vector<std::unique_ptr<PagedKvCache>> ranks_;
};

}  // namespace tspserve
