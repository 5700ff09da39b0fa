// ForwardBatch: one step's input to a rank's forward pass, on the host. The runner builds it from
// the scheduler's plan and the paged KV cache's page tables; the decoder only reads it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace tspserve {

struct ForwardBatch {
  // Per token, T entries: the token ids this rank processes, their global positions, and the
  // cache slot where each token's K/V goes (-1: stored on another rank).
  std::vector<int32_t> token_ids;
  std::vector<int32_t> positions;
  std::vector<int64_t> slot_mapping;
  // Per sequence, S + 1 offsets: sequence s owns tokens [query_start[s], query_start[s+1]) and
  // pages [page_start[s], page_start[s+1]).
  std::vector<int32_t> query_start;
  std::vector<int32_t> page_start;
  // Per page, P entries: a run of consecutive slots holding consecutive positions (see
  // engine/backend/attention_metadata.h).
  std::vector<int32_t> page_first_slot;
  std::vector<int32_t> page_first_position;
  std::vector<int32_t> page_num_tokens;
  // Rows of the token list whose logits are wanted, in output order.
  std::vector<int32_t> logit_rows;

  int32_t num_tokens() const { return static_cast<int32_t>(token_ids.size()); }
  int32_t num_seqs() const { return static_cast<int32_t>(query_start.size()) - 1; }
  // The most cached keys of one sequence (the sum of its pages' tokens).
  int64_t max_keys() const {
    int64_t most = 0;
    for (int32_t s = 0; s < num_seqs(); ++s) {
      int64_t keys = 0;
      for (int32_t p = page_start[s]; p < page_start[s + 1]; ++p) keys += page_num_tokens[p];
      most = std::max(most, keys);
    }
    return most;
  }
};

// Shapes an upload keeps fixed, so that every step with the same token count finds its arrays at
// the same device addresses and launches attention with the same shapes (what a recorded step
// needs): the page arrays take room for `pages` entries each, and the metadata says `max_pages`
// and `max_keys` per sequence (upper bounds of the step's own).
struct FixedUploadShapes {
  int64_t pages = 0;
  int32_t max_pages = 0;
  int64_t max_keys = 0;
};

}  // namespace tspserve
