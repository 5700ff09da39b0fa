#include "engine/kv/paged_kv_cache.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/common/check.h"
#include "engine/common/status.h"

namespace tspserve {
namespace {

int32_t EndPosition(const Page& page) { return page.first_position + page.num_tokens; }

int32_t CeilDiv(int32_t a, int32_t b) { return (a + b - 1) / b; }

}  // namespace

PagedKvCache::PagedKvCache(int32_t num_blocks, int32_t block_size)
    : block_size_(block_size), pool_(num_blocks) {
  CHECK_GE(block_size, 1);
}

absl::Status PagedKvCache::AddSequence(SeqId id) {
  if (!tables_.try_emplace(id).second) {
    return absl::AlreadyExistsError(absl::StrCat("sequence ", id, " is already in the KV cache"));
  }
  return absl::OkStatus();
}

int32_t PagedKvCache::RoomInLastPage(const PageTable& pages, int32_t first_position) const {
  if (pages.empty() || EndPosition(pages.back()) != first_position) return 0;
  return block_size_ - pages.back().num_tokens;
}

int32_t PagedKvCache::BlocksNeeded(const PageTable& pages, int32_t first_position,
                                   int32_t count) const {
  if (count <= 0) return 0;
  const int32_t in_last = std::min(count, RoomInLastPage(pages, first_position));
  const bool copy_last = in_last > 0 && pool_.ref_count(pages.back().block) > 1;
  return (copy_last ? 1 : 0) + CeilDiv(count - in_last, block_size_);
}

int32_t PagedKvCache::PagesNeeded(SeqId id, int32_t first_position, int32_t count) const {
  auto it = tables_.find(id);
  if (it == tables_.end()) return count <= 0 ? 0 : CeilDiv(count, block_size_);
  return BlocksNeeded(it->second, first_position, count);
}

absl::Status PagedKvCache::CheckAppendArgs(const PageTable& pages, int32_t first_position,
                                           int32_t count) const {
  if (first_position < 0 || count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("negative first_position ", first_position, " or count ", count));
  }
  if (static_cast<int64_t>(first_position) + count > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError("positions overflow int32");
  }
  if (!pages.empty() && first_position < EndPosition(pages.back())) {
    return absl::InvalidArgumentError(absl::StrCat("first_position ", first_position,
                                                   " is before the end of the last page (",
                                                   EndPosition(pages.back()), ")"));
  }
  return absl::OkStatus();
}

void PagedKvCache::CopyOnWrite(Page& page) {
  const std::optional<int32_t> copy = pool_.Allocate();
  CHECK(copy.has_value()) << "copy-on-write ran out of blocks after the capacity check";
  pending_copies_.push_back({page.block, *copy});
  pool_.Release(page.block);
  page.block = *copy;
}

void PagedKvCache::AppendSlots(const Page& page, int32_t offset, int32_t count,
                               std::vector<int64_t>& slots) const {
  const int64_t base = static_cast<int64_t>(page.block) * block_size_ + offset;
  for (int32_t i = 0; i < count; ++i) slots.push_back(base + i);
}

absl::StatusOr<std::vector<int64_t>> PagedKvCache::Append(SeqId id, int32_t first_position,
                                                          int32_t count) {
  auto it = tables_.find(id);
  if (it == tables_.end()) {
    return absl::NotFoundError(absl::StrCat("sequence ", id, " is not in the KV cache"));
  }
  PageTable& pages = it->second;
  RETURN_IF_ERROR(Annotate(CheckAppendArgs(pages, first_position, count),
                           absl::StrCat("appending to sequence ", id)));
  const int32_t needed = BlocksNeeded(pages, first_position, count);
  if (needed > pool_.num_free()) {
    return absl::ResourceExhaustedError(absl::StrCat("sequence ", id, " needs ", needed,
                                                     " KV blocks, ", pool_.num_free(), " free"));
  }
  std::vector<int64_t> slots;
  slots.reserve(static_cast<size_t>(count));
  const int32_t in_last = std::min(count, RoomInLastPage(pages, first_position));
  if (in_last > 0) {
    Page& last = pages.back();
    if (pool_.ref_count(last.block) > 1) CopyOnWrite(last);
    AppendSlots(last, last.num_tokens, in_last, slots);
    last.num_tokens += in_last;
  }
  for (int32_t done = in_last; done < count;) {
    const int32_t n = std::min(block_size_, count - done);
    pages.push_back({*pool_.Allocate(), first_position + done, n});
    AppendSlots(pages.back(), 0, n, slots);
    done += n;
  }
  return slots;
}

absl::Status PagedKvCache::Fork(SeqId parent, SeqId child) {
  auto it = tables_.find(parent);
  if (it == tables_.end()) {
    return absl::NotFoundError(absl::StrCat("fork parent ", parent, " is not in the KV cache"));
  }
  if (tables_.count(child) > 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("fork child ", child, " is already in the KV cache"));
  }
  PageTable pages = it->second;  // copied before emplace may rehash
  for (const Page& page : pages) pool_.AddRef(page.block);
  tables_.emplace(child, std::move(pages));
  return absl::OkStatus();
}

absl::Status PagedKvCache::Truncate(SeqId id, int32_t num_positions_kept) {
  auto it = tables_.find(id);
  if (it == tables_.end()) {
    return absl::NotFoundError(absl::StrCat("sequence ", id, " is not in the KV cache"));
  }
  if (num_positions_kept < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncating sequence ", id, " to negative length ", num_positions_kept));
  }
  PageTable& pages = it->second;
  while (!pages.empty() && pages.back().first_position >= num_positions_kept) {
    pool_.Release(pages.back().block);
    pages.pop_back();
  }
  if (!pages.empty()) {
    Page& last = pages.back();
    last.num_tokens = std::min(last.num_tokens, num_positions_kept - last.first_position);
  }
  return absl::OkStatus();
}

void PagedKvCache::Free(SeqId id) {
  auto it = tables_.find(id);
  if (it == tables_.end()) return;
  for (const Page& page : it->second) pool_.Release(page.block);
  tables_.erase(it);
}

bool PagedKvCache::Contains(SeqId id) const { return tables_.count(id) > 0; }

std::span<const Page> PagedKvCache::Pages(SeqId id) const {
  auto it = tables_.find(id);
  if (it == tables_.end()) return {};
  return it->second;
}

int32_t PagedKvCache::NumTokens(SeqId id) const {
  int32_t total = 0;
  for (const Page& page : Pages(id)) total += page.num_tokens;
  return total;
}

std::vector<BlockCopy> PagedKvCache::TakePendingCopies() {
  std::vector<BlockCopy> copies;
  copies.swap(pending_copies_);
  return copies;
}

absl::Status PagedKvCache::CheckTable(SeqId id, const PageTable& pages,
                                      std::vector<int32_t>& refs) const {
  std::vector<int32_t> blocks;
  int64_t previous_end = 0;
  for (const Page& page : pages) {
    if (page.block < 0 || page.block >= num_blocks() || page.num_tokens < 1 ||
        page.num_tokens > block_size_ || page.first_position < previous_end) {
      return absl::InternalError(absl::StrCat("sequence ", id, ": bad page {block ", page.block,
                                              ", first_position ", page.first_position,
                                              ", num_tokens ", page.num_tokens, "}"));
    }
    previous_end = EndPosition(page);
    blocks.push_back(page.block);
    ++refs[static_cast<size_t>(page.block)];
  }
  std::sort(blocks.begin(), blocks.end());
  if (std::adjacent_find(blocks.begin(), blocks.end()) != blocks.end()) {
    return absl::InternalError(absl::StrCat("sequence ", id, " uses a block twice"));
  }
  return absl::OkStatus();
}

absl::Status PagedKvCache::CheckIntegrity() const {
  RETURN_IF_ERROR(pool_.CheckIntegrity());
  std::vector<int32_t> refs(static_cast<size_t>(num_blocks()), 0);
  for (const auto& [id, pages] : tables_) RETURN_IF_ERROR(CheckTable(id, pages, refs));
  for (int32_t b = 0; b < num_blocks(); ++b) {
    if (refs[static_cast<size_t>(b)] != pool_.ref_count(b)) {
      return absl::InternalError(absl::StrCat("block ", b, " has reference count ",
                                              pool_.ref_count(b), " but ",
                                              refs[static_cast<size_t>(b)], " page references"));
    }
  }
  for (const BlockCopy& copy : pending_copies_) {
    if (copy.src_block < 0 || copy.src_block >= num_blocks() || copy.dst_block < 0 ||
        copy.dst_block >= num_blocks() || copy.src_block == copy.dst_block) {
      return absl::InternalError(
          absl::StrCat("bad pending copy ", copy.src_block, " -> ", copy.dst_block));
    }
  }
  return absl::OkStatus();
}

}  // namespace tspserve
