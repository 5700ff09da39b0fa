#include "engine/runtime/model_runner.h"

#include "engine/common/status.h"

namespace tspserve {

ModelRunner::ModelRunner(std::unique_ptr<LlamaModel> decoder, std::unique_ptr<Backend> backend)
    : backend_(std::move(backend)),
      decoder_(std::move(decoder)),
      kv_cache_(std::make_unique<PagedKvCache>(decoder_->num_kv_blocks(), decoder_->block_size())) {}

ModelRunner::~ModelRunner() {
  decoder_.reset();  // frees device buffers through backend_'s allocator, which must outlive them
}

absl::StatusOr<ForwardBatch> ModelRunner::Prepare(const BatchPlan& plan, StepOutput* output) {
  ForwardBatch batch;
  batch.query_start.push_back(0);
  batch.page_start.push_back(0);
  std::vector<SeqId> appended;
  for (const ScheduledSeq& s : plan.seqs) {
    if (!kv_cache_->Contains(s.seq_id)) RETURN_IF_ERROR(kv_cache_->AddSequence(s.seq_id));
    absl::StatusOr<std::vector<int64_t>> slots =
        kv_cache_->Append(s.seq_id, s.first_position, s.num_tokens);
    if (!slots.ok()) {  // undo this step's earlier reservations
      for (size_t i = 0; i < appended.size(); ++i) {
        const ScheduledSeq& done = plan.seqs[i];
        (void)kv_cache_->Truncate(done.seq_id, done.first_position);
      }
      return slots.status();
    }
    appended.push_back(s.seq_id);
    for (int32_t i = 0; i < s.num_tokens; ++i) {
      batch.token_ids.push_back(s.token_ids[static_cast<size_t>(i)]);
      batch.positions.push_back(s.first_position + i);
      batch.slot_mapping.push_back((*slots)[static_cast<size_t>(i)]);
    }
    batch.query_start.push_back(batch.num_tokens());
    for (const Page& page : kv_cache_->Pages(s.seq_id)) {
      batch.page_block.push_back(page.block);
      batch.page_first_position.push_back(page.first_position);
      batch.page_num_tokens.push_back(page.num_tokens);
    }
    batch.page_start.push_back(static_cast<int32_t>(batch.page_block.size()));
    output->logit_index.push_back(s.wants_logits ? static_cast<int32_t>(batch.logit_rows.size()) : -1);
    const int32_t first_row = s.all_logits ? batch.num_tokens() - s.num_tokens : batch.num_tokens() - 1;
    for (int32_t row = first_row; s.wants_logits && row < batch.num_tokens(); ++row) {
      batch.logit_rows.push_back(row);
    }
  }
  return batch;
}

absl::StatusOr<StepOutput> ModelRunner::Run(const BatchPlan& plan) {
  StepOutput output;
  output.vocab_size = decoder_->config().vocab_size;
  ASSIGN_OR_RETURN(ForwardBatch batch, Prepare(plan, &output));
  std::vector<BlockCopyOp> copies;
  for (const BlockCopy& c : kv_cache_->TakePendingCopies()) copies.push_back({c.src_block, c.dst_block});
  decoder_->CopyBlocks(copies);
  ASSIGN_OR_RETURN(output.logits, decoder_->Forward(batch));
  return output;
}

}  // namespace tspserve
