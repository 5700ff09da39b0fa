// CPU-side bookkeeping of one rank's paged KV cache. The K/V tensors live in the backend
// ([num_blocks, block_size, n_kv, head_dim] per layer); this class only decides which slots a token
// uses. Under TSP a sequence's positions are spread over the ranks, so one rank's pages of a
// sequence may cover ranges with gaps between them (DESIGN.md sections 1 and 1.2).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/kv/block_pool.h"

namespace tspserve {

using SeqId = int64_t;

// One block of one sequence: it holds the global positions
// [first_position, first_position + num_tokens) at offsets 0..num_tokens-1 of the block.
// 1 <= num_tokens <= block_size.
struct Page {
  int32_t block;
  int32_t first_position;
  int32_t num_tokens;

  friend bool operator==(const Page&, const Page&) = default;
};

// Copy-on-write work for the backend: copy all of src_block's slots into dst_block.
struct BlockCopy {
  int32_t src_block;
  int32_t dst_block;

  friend bool operator==(const BlockCopy&, const BlockCopy&) = default;
};

class PagedKvCache {
 public:
  // num_blocks >= 0, block_size >= 1.
  PagedKvCache(int32_t num_blocks, int32_t block_size);

  PagedKvCache(const PagedKvCache&) = delete;
  PagedKvCache& operator=(const PagedKvCache&) = delete;

  // Starts an empty sequence. AlreadyExists if `id` is present.
  absl::Status AddSequence(SeqId id);

  // Blocks Append(id, first_position, count) would take from the pool, counting the copy of a
  // shared last page. An unknown id counts as an empty sequence.
  int32_t PagesNeeded(SeqId id, int32_t first_position, int32_t count) const;

  // Reserves slots for the tokens at positions [first_position, first_position + count) and returns
  // their slot indices (block * block_size + offset) in position order. Positions only grow: the
  // first must be at or after the end of the sequence's last page (a gap is allowed: those
  // positions live on other ranks). The tokens extend the last page while it has room and
  // first_position continues it; the rest start new pages. Appending into a page shared with a fork
  // first moves this sequence onto a private copy and queues a BlockCopy.
  // NotFound for an unknown id, InvalidArgument for negative or backward positions,
  // ResourceExhausted when the pool is short; on any error nothing changes.
  absl::StatusOr<std::vector<int64_t>> Append(SeqId id, int32_t first_position, int32_t count);

  // `child` (new) shares every page of `parent`. Fork between steps: slots reserved by Append must
  // be written before a fork, since a later copy-on-write copies the block as it is then. NotFound
  // for an unknown parent, AlreadyExists for a present child.
  absl::Status Fork(SeqId parent, SeqId child);

  // Drops the tokens at positions >= num_positions_kept (rejected speculative tokens, recompute)
  // and frees pages left empty. NotFound for an unknown id, InvalidArgument for a negative count.
  absl::Status Truncate(SeqId id, int32_t num_positions_kept);

  // Releases the sequence's pages. No-op for unknown ids.
  void Free(SeqId id);

  bool Contains(SeqId id) const;
  // The sequence's pages sorted by position; empty for an unknown id. Invalidated by any mutation.
  std::span<const Page> Pages(SeqId id) const;
  // Tokens of the sequence held by this rank; 0 for an unknown id.
  int32_t NumTokens(SeqId id) const;

  // Copies queued since the last call, in order. The backend must run them in this order before the
  // step's forward pass writes any K/V.
  std::vector<BlockCopy> TakePendingCopies();

  int32_t block_size() const { return block_size_; }
  int32_t num_blocks() const { return pool_.num_blocks(); }
  int32_t num_free_blocks() const { return pool_.num_free(); }
  int32_t num_used_blocks() const { return num_blocks() - num_free_blocks(); }
  int32_t num_sequences() const { return static_cast<int32_t>(tables_.size()); }

  // Reference counts equal the references from page tables, pages are in range, non-empty, never
  // over-full, sorted and non-overlapping within a sequence, and the free list is consistent.
  absl::Status CheckIntegrity() const;

 private:
  using PageTable = std::vector<Page>;

  // Checks positions against the table's last page.
  absl::Status CheckAppendArgs(const PageTable& pages, int32_t first_position, int32_t count) const;
  int32_t BlocksNeeded(const PageTable& pages, int32_t first_position, int32_t count) const;
  // Tokens that fit in the last page when appending at first_position (0 if it does not continue).
  int32_t RoomInLastPage(const PageTable& pages, int32_t first_position) const;
  // Moves `page` onto a private block holding a copy of its contents.
  void CopyOnWrite(Page& page);
  // Writes the slots of `count` tokens placed at `offset` of `page`.
  void AppendSlots(const Page& page, int32_t offset, int32_t count,
                   std::vector<int64_t>& slots) const;
  absl::Status CheckTable(SeqId id, const PageTable& pages, std::vector<int32_t>& refs) const;

  int32_t block_size_;
  BlockPool pool_;
  std::unordered_map<SeqId, PageTable> tables_;
  std::vector<BlockCopy> pending_copies_;
};

}  // namespace tspserve
