#include "engine/kv/page_placement.h"

#include <algorithm>

#include "engine/common/check.h"

namespace tspserve {
namespace {

// Pages of each of the 2*degree chunks, in position order (see the balance guarantee).
std::vector<int32_t> ChunkPages(int32_t num_pages, int32_t degree) {
  std::vector<int32_t> chunk_pages(static_cast<size_t>(2 * degree), 0);
  const int32_t base = num_pages / degree;
  const int32_t extra = num_pages % degree;
  for (int32_t r = 0; r < degree; ++r) {
    const int32_t rank_pages = base + (r < extra ? 1 : 0);
    chunk_pages[static_cast<size_t>(r)] = (rank_pages + 1) / 2;
    chunk_pages[static_cast<size_t>(2 * degree - 1 - r)] = rank_pages / 2;
  }
  return chunk_pages;
}

void AddRange(std::vector<TokenRange>& ranges, TokenRange range) {
  if (range.begin >= range.end) return;
  if (!ranges.empty() && ranges.back().end == range.begin) {
    ranges.back().end = range.end;
  } else {
    ranges.push_back(range);
  }
}

}  // namespace

// The last page is in the last non-empty chunk. If chunk 2*degree-1 is non-empty that is rank 0,
// which gets an extra page whenever any rank does; otherwise every rank has at most one page, held
// in its first chunk, and the last holder r = P-1 < extra also got the extra page.
std::vector<std::vector<TokenRange>> ZigZagPartition(int32_t num_tokens, int32_t degree,
                                                     int32_t block_size) {
  CHECK_GE(num_tokens, 0);
  CHECK_GE(degree, 1);
  CHECK_GE(block_size, 1);
  const int32_t num_pages = num_tokens / block_size + (num_tokens % block_size != 0 ? 1 : 0);
  const std::vector<int32_t> chunk_pages = ChunkPages(num_pages, degree);
  std::vector<std::vector<TokenRange>> per_rank(static_cast<size_t>(degree));
  int64_t begin = 0;
  for (int32_t c = 0; c < 2 * degree; ++c) {
    const int64_t end = std::min<int64_t>(
        num_tokens, begin + int64_t{chunk_pages[static_cast<size_t>(c)]} * block_size);
    const int32_t rank = c < degree ? c : 2 * degree - 1 - c;
    AddRange(per_rank[static_cast<size_t>(rank)],
             {static_cast<int32_t>(begin), static_cast<int32_t>(end)});
    begin = end;
  }
  return per_rank;
}

int32_t ChooseDecodeRank(const DecodeTail& tail) {
  CHECK(!tail.pages_per_rank.empty());
  if (tail.last_page_rank >= 0 && tail.last_page_free_slots > 0) {
    CHECK_LT(tail.last_page_rank, static_cast<int32_t>(tail.pages_per_rank.size()));
    return tail.last_page_rank;
  }
  const auto fewest = std::min_element(tail.pages_per_rank.begin(), tail.pages_per_rank.end());
  return static_cast<int32_t>(fewest - tail.pages_per_rank.begin());
}

std::vector<int32_t> ChooseDecodeRanks(const DecodeTail& tail, int32_t block_size, int32_t count) {
  CHECK_GE(block_size, 1);
  CHECK_GE(count, 0);
  std::vector<int32_t> pages(tail.pages_per_rank.begin(), tail.pages_per_rank.end());
  DecodeTail state{pages, tail.last_page_rank, tail.last_page_free_slots};
  std::vector<int32_t> ranks;
  ranks.reserve(static_cast<size_t>(count));
  for (int32_t i = 0; i < count; ++i) {
    const int32_t rank = ChooseDecodeRank(state);
    if (rank != state.last_page_rank || state.last_page_free_slots == 0) {
      ++pages[static_cast<size_t>(rank)];
      state.last_page_rank = rank;
      state.last_page_free_slots = block_size;
    }
    --state.last_page_free_slots;
    ranks.push_back(rank);
  }
  return ranks;
}

}  // namespace tspserve
