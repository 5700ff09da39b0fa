#include "engine/parallel/shard_layout.h"

#include "absl/strings/str_cat.h"

namespace tspserve {
namespace {

IndexRange EvenSlice(int64_t total, ShardSpec spec) {
  const int64_t per_rank = total / spec.degree;
  return {spec.rank * per_rank, (spec.rank + 1) * per_rank};
}

absl::Status CheckDivisible(std::string_view what, int64_t count, int32_t degree) {
  if (count % degree == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(std::string(what), " (", count,
                                                 ") is not divisible by the parallel degree ", degree));
}

}  // namespace

absl::StatusOr<ShardLayout> ShardLayout::Make(const ModelConfig& config, ShardSpec spec) {
  if (spec.degree < 1 || spec.rank < 0 || spec.rank >= spec.degree) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", spec.rank, " is not in a group of ", spec.degree));
  }
  for (absl::Status s : {CheckDivisible("num_attention_heads", config.num_heads, spec.degree),
                         CheckDivisible("intermediate_size", config.intermediate_size, spec.degree)}) {
    if (!s.ok()) return s;
  }
  ShardLayout layout;
  layout.spec = spec;
  layout.group_size = config.num_heads / config.num_kv_heads;
  layout.q_heads = EvenSlice(config.num_heads, spec);
  layout.kv_heads = {layout.q_heads.begin / layout.group_size,
                     (layout.q_heads.end - 1) / layout.group_size + 1};
  layout.intermediate = EvenSlice(config.intermediate_size, spec);
  layout.padded_vocab = (config.vocab_size + spec.degree - 1) / spec.degree * spec.degree;
  layout.vocab = EvenSlice(layout.padded_vocab, spec);
  return layout;
}

}  // namespace tspserve
