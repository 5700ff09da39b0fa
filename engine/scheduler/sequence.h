// Sequence: one generation's token state as the scheduler sees it. Positions [0, num_computed)
// have their K/V in the cache; the tokens at [num_computed, num_tokens()) still need a forward pass.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kv/paged_kv_cache.h"

namespace tspserve {

enum class SeqStatus { kWaiting, kRunning, kFinished };

struct Sequence {
  SeqId id = 0;
  std::vector<int32_t> prompt;
  std::vector<int32_t> output;
  int32_t max_tokens = 0;    // output tokens at most: bounds the pages the sequence can ever need
  int32_t num_computed = 0;  // positions whose K/V are cached
  SeqStatus status = SeqStatus::kWaiting;
  int32_t num_preemptions = 0;

  int32_t num_tokens() const { return static_cast<int32_t>(prompt.size() + output.size()); }
  int32_t TokenAt(int32_t position) const {
    const int32_t p = static_cast<int32_t>(prompt.size());
    return position < p ? prompt[static_cast<size_t>(position)]
                        : output[static_cast<size_t>(position - p)];
  }
};

}  // namespace tspserve
