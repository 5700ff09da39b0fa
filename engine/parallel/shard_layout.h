// Which slice of every weight a rank holds (DESIGN.md section 1 table). Pure arithmetic on the
// model's shape: the loader reads these slices, the schedules reason about them.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "models/config/model_config.h"

namespace tspserve {

struct ShardSpec {
  int32_t rank = 0;
  int32_t degree = 1;
};

struct IndexRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

struct ShardLayout {
  ShardSpec spec;
  IndexRange q_heads;       // query heads [r*Hq/N, (r+1)*Hq/N)
  IndexRange kv_heads;      // the K/V heads those queries read (shared between ranks when n_kv < N)
  IndexRange intermediate;  // MLP channels [r*I/N, (r+1)*I/N)
  IndexRange vocab;         // rows of the padded vocabulary [r*Vp/N, (r+1)*Vp/N)
  int64_t padded_vocab = 0; // vocab_size rounded up to a multiple of N; rows >= vocab_size are zero
  int64_t group_size = 1;   // query heads per K/V head

  // InvalidArgument naming the count when heads or channels do not divide by the degree.
  static absl::StatusOr<ShardLayout> Make(const ModelConfig& config, ShardSpec spec);
};

}  // namespace tspserve
