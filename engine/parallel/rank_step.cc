#include "engine/parallel/rank_step.h"

namespace tspserve {
namespace {

bool WantsLogits(const ScheduledSeq& e, int32_t i) {
  return e.wants_logits && (e.all_logits || i == e.num_tokens - 1);
}

void AppendPages(const PagedKvCache& cache, SeqId id, ForwardBatch& b) {
  if (cache.Contains(id)) {
    for (const Page& page : cache.Pages(id)) {
      b.page_first_slot.push_back(page.block * cache.block_size());
      b.page_first_position.push_back(page.first_position);
      b.page_num_tokens.push_back(page.num_tokens);
    }
  }
  b.page_start.push_back(static_cast<int32_t>(b.page_first_slot.size()));
}

// Every token of the step, as rank r sees it.
ForwardBatch AllTokens(const BatchPlan& plan, const std::vector<std::vector<TokenSlot>>& slots,
                       const PagedKvCache& cache, int32_t r) {
  ForwardBatch b;
  b.query_start.push_back(0);
  b.page_start.push_back(0);
  for (size_t e = 0; e < plan.seqs.size(); ++e) {
    const ScheduledSeq& entry = plan.seqs[e];
    for (int32_t i = 0; i < entry.num_tokens; ++i) {
      const TokenSlot& slot = slots[e][static_cast<size_t>(i)];
      if (WantsLogits(entry, i)) b.logit_rows.push_back(b.num_tokens());
      b.token_ids.push_back(entry.token_ids[static_cast<size_t>(i)]);
      b.positions.push_back(entry.first_position + i);
      b.slot_mapping.push_back(slot.rank == r || slot.rank < 0 ? slot.slot : -1);
    }
    b.query_start.push_back(b.num_tokens());
    AppendPages(cache, entry.seq_id, b);
  }
  return b;
}

// Adds the key in gathered row `row` at `position` to the current sequence's pages: it extends the
// last page when both its row and its position follow on (a zig-zag chunk is one page), else it
// starts a new one.
void AppendGatheredKey(int32_t row, int32_t position, ForwardBatch& b) {
  const bool sequence_has_pages = b.page_first_slot.size() > static_cast<size_t>(b.page_start.back());
  if (sequence_has_pages) {
    const size_t last = b.page_first_slot.size() - 1;
    if (b.page_first_slot[last] + b.page_num_tokens[last] == row &&
        b.page_first_position[last] + b.page_num_tokens[last] == position) {
      ++b.page_num_tokens[last];
      return;
    }
  }
  b.page_first_slot.push_back(row);
  b.page_first_position.push_back(position);
  b.page_num_tokens.push_back(1);
}

// The sequence-sharded view of rank r: its tokens, and the keys of the step as gathered rows.
void FillLocal(const BatchPlan& plan, const std::vector<std::vector<TokenSlot>>& slots,
               int32_t degree, RankStep& step) {
  // Gathered row of each token: rank-major, plan order within a rank.
  std::vector<int64_t> base(static_cast<size_t>(degree) + 1, 0);
  step.tokens_per_rank.assign(static_cast<size_t>(degree), 0);
  step.token_ids_by_rank.assign(static_cast<size_t>(degree), {});
  step.logit_rows_per_rank.assign(static_cast<size_t>(degree), 0);
  for (size_t e = 0; e < plan.seqs.size(); ++e) {
    for (int32_t i = 0; i < plan.seqs[e].num_tokens; ++i) {
      const int32_t owner = slots[e][static_cast<size_t>(i)].rank;
      ++step.tokens_per_rank[static_cast<size_t>(owner)];
      step.token_ids_by_rank[static_cast<size_t>(owner)].push_back(plan.seqs[e].token_ids[static_cast<size_t>(i)]);
      if (WantsLogits(plan.seqs[e], i)) ++step.logit_rows_per_rank[static_cast<size_t>(owner)];
    }
  }
  for (int32_t q = 0; q < degree; ++q) base[static_cast<size_t>(q) + 1] = base[static_cast<size_t>(q)] + step.tokens_per_rank[static_cast<size_t>(q)];
  std::vector<int64_t> next_row(base.begin(), base.end() - 1);
  std::vector<int64_t> logit_base(static_cast<size_t>(degree) + 1, 0);
  for (int32_t q = 0; q < degree; ++q) logit_base[static_cast<size_t>(q) + 1] = logit_base[static_cast<size_t>(q)] + step.logit_rows_per_rank[static_cast<size_t>(q)];
  std::vector<int64_t> next_logit(logit_base.begin(), logit_base.end() - 1);
  step.logit_order.assign(static_cast<size_t>(logit_base.back()), 0);

  ForwardBatch& local = step.local;
  local.query_start.push_back(0);
  local.page_start.push_back(0);
  int32_t plan_logit = 0;
  for (size_t e = 0; e < plan.seqs.size(); ++e) {
    const ScheduledSeq& entry = plan.seqs[e];
    for (int32_t i = 0; i < entry.num_tokens; ++i) {
      const TokenSlot& slot = slots[e][static_cast<size_t>(i)];
      const size_t owner = static_cast<size_t>(slot.rank);
      const int64_t row = next_row[owner]++;
      AppendGatheredKey(static_cast<int32_t>(row), entry.first_position + i, local);
      if (WantsLogits(entry, i)) step.logit_order[static_cast<size_t>(next_logit[owner]++)] = plan_logit++;
      if (slot.rank != step.rank) continue;
      if (WantsLogits(entry, i)) local.logit_rows.push_back(local.num_tokens());
      local.token_ids.push_back(entry.token_ids[static_cast<size_t>(i)]);
      local.positions.push_back(entry.first_position + i);
      local.slot_mapping.push_back(slot.slot);
    }
    local.query_start.push_back(local.num_tokens());
    local.page_start.push_back(static_cast<int32_t>(local.page_first_slot.size()));
  }
}

}  // namespace

std::vector<RankStep> LayOutStep(const BatchPlan& plan, const std::vector<std::vector<TokenSlot>>& slots,
                                 const ShardedKvCache& kv, bool sequence_sharded_prefill) {
  bool prefill_only = sequence_sharded_prefill && kv.placement() == KvPlacement::kSequenceSharded;
  for (const ScheduledSeq& e : plan.seqs) {
    prefill_only = prefill_only && e.first_position == 0 && e.wants_logits;
  }
  std::vector<RankStep> steps(static_cast<size_t>(kv.degree()));
  for (int32_t r = 0; r < kv.degree(); ++r) {
    RankStep& step = steps[static_cast<size_t>(r)];
    step.rank = r;
    step.prefill_only = prefill_only;
    step.sampling = plan.sampling;
    step.penalties = plan.penalties;
    step.all = AllTokens(plan, slots, kv.rank(r), r);
    if (prefill_only) FillLocal(plan, slots, kv.degree(), step);
  }
  return steps;
}

std::vector<int32_t> LogitIndex(const BatchPlan& plan) {
  std::vector<int32_t> index;
  int32_t next = 0;
  for (const ScheduledSeq& e : plan.seqs) {
    index.push_back(e.wants_logits ? next : -1);
    if (e.wants_logits) next += e.all_logits ? e.num_tokens : 1;
  }
  return index;
}

}  // namespace tspserve
