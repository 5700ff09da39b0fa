// Where a sequence's tokens (and so its KV pages) live under TSP: the zig-zag split of a prompt
// over the ranks for prefill, and the rank that takes each new page during decode.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tspserve {

// Global token positions [begin, end).
struct TokenRange {
  int32_t begin;
  int32_t end;

  int32_t size() const { return end - begin; }
  friend bool operator==(const TokenRange&, const TokenRange&) = default;
};

// Zig-zag split of a prompt of `num_tokens` tokens over `degree` ranks. The prompt is cut into
// 2*degree chunks whose boundaries are multiples of block_size (no page spans two ranks; chunks may
// be empty), and rank r takes chunks r and 2*degree-1-r. Returns `degree` lists, one per rank, of
// non-empty ranges sorted by position; adjacent chunks of one rank are merged into one range.
// Together they cover [0, num_tokens) exactly once.
//
// Balance guarantee: with P = ceil(num_tokens / block_size) pages, every rank holds
// floor(P / degree) or ceil(P / degree) pages, and the rank holding the last (possibly partial)
// page holds ceil(P / degree). Hence the token counts of any two ranks differ by at most
// block_size (and by less when P % degree == 0). Within a rank the earlier chunk gets the extra
// page of an odd count, so the later (costlier, causally) chunk is never the larger one, and any
// two chunks differ by at most one page.
// Requires num_tokens >= 0, degree >= 1, block_size >= 1.
std::vector<std::vector<TokenRange>> ZigZagPartition(int32_t num_tokens, int32_t degree,
                                                     int32_t block_size);

// One sequence's KV layout across the ranks, as decode placement sees it.
struct DecodeTail {
  // pages_per_rank[r]: pages of this sequence on rank r.
  std::span<const int32_t> pages_per_rank;
  // Rank holding the page with the sequence's highest position; -1 when the sequence has no pages.
  int32_t last_page_rank = -1;
  // Free slots in that page (block_size - its num_tokens).
  int32_t last_page_free_slots = 0;
};

// The rank that takes the next position of a sequence (the one right after its highest position):
// the last page's rank while that page has room, otherwise the rank with the fewest pages of this
// sequence (ties -> lowest rank), so KV stays balanced within one page (DESIGN.md 1.2).
// Requires a non-empty pages_per_rank.
int32_t ChooseDecodeRank(const DecodeTail& tail);

// Ranks for `count` consecutive new positions (speculative or multi-token decode), applying
// ChooseDecodeRank token by token as if each were appended. Requires block_size >= 1, count >= 0.
std::vector<int32_t> ChooseDecodeRanks(const DecodeTail& tail, int32_t block_size, int32_t count);

}  // namespace tspserve
