#include "engine/kv/sharded_kv_cache.h"

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"
#include "engine/kv/page_placement.h"

namespace tspserve {

ShardedKvCache::ShardedKvCache(int32_t degree, int32_t num_blocks_per_rank, int32_t block_size,
                               KvPlacement placement)
    : placement_(placement) {
  for (int32_t r = 0; r < degree; ++r) {
    ranks_.push_back(std::make_unique<PagedKvCache>(num_blocks_per_rank, block_size));
  }
}

bool ShardedKvCache::Contains(SeqId id) const {
  for (const auto& r : ranks_) {
    if (r->Contains(id)) return true;
  }
  return false;
}

int32_t ShardedKvCache::NumTokens(SeqId id) const {
  int32_t n = 0;
  for (const auto& r : ranks_) {
    if (r->Contains(id)) n += r->NumTokens(id);
  }
  return n;
}

std::vector<int32_t> ShardedKvCache::RanksFor(SeqId id, int32_t first, int32_t count) const {
  if (placement_ == KvPlacement::kReplicated) return std::vector<int32_t>(static_cast<size_t>(count), -1);
  std::vector<int32_t> ranks;
  ranks.reserve(static_cast<size_t>(count));
  if (first == 0 && NumTokens(id) == 0) {  // a prompt from the start: zig-zag
    const auto partition = ZigZagPartition(count, degree(), block_size());
    ranks.assign(static_cast<size_t>(count), 0);
    for (int32_t r = 0; r < degree(); ++r) {
      for (const TokenRange& range : partition[static_cast<size_t>(r)]) {
        for (int32_t p = range.begin; p < range.end; ++p) ranks[static_cast<size_t>(p)] = r;
      }
    }
    return ranks;
  }
  std::vector<int32_t> pages(static_cast<size_t>(degree()), 0);
  DecodeTail tail;
  int32_t last_position = -1;
  for (int32_t r = 0; r < degree(); ++r) {
    if (!rank(r).Contains(id)) continue;
    const auto table = rank(r).Pages(id);
    pages[static_cast<size_t>(r)] = static_cast<int32_t>(table.size());
    if (!table.empty() && table.back().first_position > last_position) {
      last_position = table.back().first_position;
      tail.last_page_rank = r;
      tail.last_page_free_slots = block_size() - table.back().num_tokens;
    }
  }
  tail.pages_per_rank = pages;
  return ChooseDecodeRanks(tail, block_size(), count);
}

std::vector<int32_t> ShardedKvCache::PagesNeeded(SeqId id, int32_t first, int32_t count) const {
  std::vector<int32_t> needed(static_cast<size_t>(degree()), 0);
  if (placement_ == KvPlacement::kReplicated) {
    for (int32_t r = 0; r < degree(); ++r) needed[static_cast<size_t>(r)] = rank(r).PagesNeeded(id, first, count);
    return needed;
  }
  const std::vector<int32_t> ranks = RanksFor(id, first, count);
  // Each rank's tokens form runs of consecutive positions; count each run's pages.
  for (int32_t r = 0; r < degree(); ++r) {
    int32_t p = 0;
    int32_t simulated_end = -1;  // positions appended to rank r so far in this call
    while (p < count) {
      if (ranks[static_cast<size_t>(p)] != r) { ++p; continue; }
      int32_t q = p;
      while (q < count && ranks[static_cast<size_t>(q)] == r) ++q;
      // A run continues the rank's last page only if it is the first run and directly follows it.
      needed[static_cast<size_t>(r)] += simulated_end < 0
          ? rank(r).PagesNeeded(id, first + p, q - p)
          : (q - p + block_size() - 1) / block_size();
      simulated_end = first + q;
      p = q;
    }
  }
  return needed;
}

bool ShardedKvCache::Fits(SeqId id, int32_t first, int32_t count, std::vector<int32_t>& reserved) const {
  const std::vector<int32_t> needed = PagesNeeded(id, first, count);
  for (int32_t r = 0; r < degree(); ++r) {
    const size_t i = static_cast<size_t>(r);
    if (needed[i] > rank(r).num_free_blocks() - reserved[i]) return false;
  }
  for (size_t i = 0; i < needed.size(); ++i) reserved[i] += needed[i];
  return true;
}

absl::StatusOr<std::vector<TokenSlot>> ShardedKvCache::Append(SeqId id, int32_t first, int32_t count) {
  std::vector<int32_t> reserved(static_cast<size_t>(degree()), 0);
  if (!Fits(id, first, count, reserved)) {
    return absl::ResourceExhaustedError(absl::StrCat("no free KV pages for ", count,
                                                     " tokens of sequence ", id));
  }
  const std::vector<int32_t> ranks = RanksFor(id, first, count);
  std::vector<TokenSlot> slots(static_cast<size_t>(count));
  for (int32_t r = 0; r < degree(); ++r) {
    PagedKvCache& cache = rank(r);
    if (!cache.Contains(id)) RETURN_IF_ERROR(cache.AddSequence(id));
    for (int32_t p = 0; p < count;) {
      if (ranks[static_cast<size_t>(p)] != r && ranks[static_cast<size_t>(p)] != -1) { ++p; continue; }
      int32_t q = p;
      while (q < count && ranks[static_cast<size_t>(q)] == ranks[static_cast<size_t>(p)]) ++q;
      ASSIGN_OR_RETURN(std::vector<int64_t> run, cache.Append(id, first + p, q - p));
      for (int32_t i = p; i < q; ++i) slots[static_cast<size_t>(i)] = {ranks[static_cast<size_t>(i)], run[static_cast<size_t>(i - p)]};
      p = q;
    }
  }
  return slots;
}

void ShardedKvCache::Free(SeqId id) {
  for (auto& r : ranks_) r->Free(id);
}

void ShardedKvCache::Truncate(SeqId id, int32_t num_positions_kept) {
  for (auto& r : ranks_) {
    if (r->Contains(id)) (void)r->Truncate(id, num_positions_kept);
  }
}

int64_t ShardedKvCache::capacity_tokens() const {
  const int64_t per_rank = static_cast<int64_t>(rank(0).num_blocks()) * block_size();
  return placement_ == KvPlacement::kReplicated ? per_rank : per_rank * degree();
}

int32_t ShardedKvCache::num_used_blocks() const {
  int32_t used = 0;
  for (const auto& r : ranks_) used += r->num_used_blocks();
  return used;
}

absl::Status ShardedKvCache::CheckIntegrity() const {
  for (int32_t r = 0; r < degree(); ++r) {
    RETURN_IF_ERROR(Annotate(rank(r).CheckIntegrity(), absl::StrCat("rank ", r)));
  }
  return absl::OkStatus();
}

}  // namespace tspserve
