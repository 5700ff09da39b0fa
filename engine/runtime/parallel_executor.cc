#include "engine/runtime/parallel_executor.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"
#include "engine/runtime/rank_devices.h"
#include "models/checkpoint/checkpoint.h"

namespace tspserve {
namespace {

// The K/V heads rank `layout` stores: its own under TP (the cache is sharded by head), all of
// them when the cache is sharded by sequence.
IndexRange StoredKvHeads(const ModelConfig& config, const ParallelConfig& parallel,
                         const ShardLayout& layout) {
  return parallel.kv_sharded_by_head() ? layout.kv_heads : IndexRange{0, config.num_kv_heads};
}

CommStats Sum(const CommStats& a, const CommStats& b) {
  CommStats sum = a;
  for (int k = 0; k < kNumCollectiveKinds; ++k) {
    sum.bytes_sent[k] += b.bytes_sent[k];
    sum.calls[k] += b.calls[k];
    sum.seconds[k] += b.seconds[k];
  }
  sum.exposed_seconds += b.exposed_seconds;
  return sum;
}

}  // namespace

ParallelExecutor::ParallelExecutor(const ExecutorOptions& options) : options_(options) {}

// Each rank is torn down on its own worker thread, all at once: destroying NCCL communicators is
// collective among the ranks of a node.
ParallelExecutor::~ParallelExecutor() {
  if (workers_ == nullptr) return;
  workers_->RunOnAll([&](int r) {
    Rank& rank = ranks_[static_cast<size_t>(r)];  // users before what they use
    rank.forward.reset();
    rank.model.reset();
    rank.sequence_comm.reset();
    rank.tensor_comm.reset();
    rank.comm.reset();
    rank.backend.reset();
  });
}

absl::StatusOr<int32_t> ParallelExecutor::BlocksPerRank(const ModelConfig& config,
                                                      int64_t stored_heads) const {
  if (options_.num_kv_blocks > 0) return options_.num_kv_blocks;
  const DType dtype = ranks_[0].backend->compute_dtype();
  const int64_t per_block = LlamaModel::BytesPerKvBlock(config, options_.block_size, stored_heads, dtype);
  int64_t budget = options_.kv_cache_bytes;
  if (budget == 0 && options_.device == Device::kCuda) {
    // Ranks sharing a GPU (tests) split what it has left.
    const int64_t ranks_per_gpu =
        (static_cast<int64_t>(ranks_.size()) + AvailableDevices(Device::kCuda) - 1) / AvailableDevices(Device::kCuda);
    budget = std::numeric_limits<int64_t>::max();
    for (const Rank& rank : ranks_) {
      const Backend::MemoryInfo memory = rank.backend->DeviceMemory();
      const int64_t used = memory.total_bytes - memory.free_bytes;
      const auto allowed = static_cast<int64_t>(options_.gpu_memory_utilization * static_cast<double>(memory.total_bytes));
      budget = std::min(budget, (allowed - used - options_.activation_reserve_bytes) / ranks_per_gpu);
    }
  }
  const int64_t blocks = budget / per_block;
  if (blocks < 1) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache budget of ", budget, " bytes per rank is less than one page (", per_block,
        " bytes); lower the model size or degree, or raise --kv-cache-mb / --gpu-memory-utilization"));
  }
  return static_cast<int32_t>(std::min<int64_t>(blocks, 1 << 30));
}

absl::StatusOr<std::unique_ptr<ParallelExecutor>> ParallelExecutor::Create(
    const std::string& model_dir, const ModelConfig& config, const ExecutorOptions& options) {
  const ParallelConfig& parallel = options.parallel;
  RETURN_IF_ERROR(parallel.Validate());
  std::vector<ShardLayout> layouts;
  int64_t stored_heads = 0;
  for (int32_t r = 0; r < parallel.degree; ++r) {
    ASSIGN_OR_RETURN(ShardLayout layout, ShardLayout::Make(config, parallel.WeightShard(r)));
    stored_heads = std::max(stored_heads, StoredKvHeads(config, parallel, layout).size());
    layouts.push_back(layout);
  }
  std::unique_ptr<Checkpoint> checkpoint;
  if (!options.random_weights) {
    ASSIGN_OR_RETURN(checkpoint, Checkpoint::Open(model_dir));
  }
  ASSIGN_OR_RETURN(RankDevices devices, MakeRankDevices(options.device, parallel.degree, options.share_gpus));
  std::unique_ptr<ParallelExecutor> executor(new ParallelExecutor(options));
  executor->ranks_.resize(static_cast<size_t>(parallel.degree));
  for (int32_t r = 0; r < parallel.degree; ++r) {
    executor->ranks_[static_cast<size_t>(r)].backend = std::move(devices.backends[static_cast<size_t>(r)]);
    executor->ranks_[static_cast<size_t>(r)].comm = std::move(devices.comms[static_cast<size_t>(r)]);
  }
  executor->workers_ = std::make_unique<RankWorkers>(parallel.degree);
  std::vector<absl::Status> status(static_cast<size_t>(parallel.degree));
  std::vector<ModelWeights> weights(static_cast<size_t>(parallel.degree));
  executor->workers_->RunOnAll([&](int r) {  // every rank loads only its own slices, in parallel
    Rank& rank = executor->ranks_[static_cast<size_t>(r)];
    if (parallel.mode == ParallelMode::kTpSp) {  // collective: every rank splits the group
      rank.tensor_comm = rank.comm->Split(parallel.sequence_rank(r), parallel.tensor_rank(r));
      rank.sequence_comm = rank.comm->Split(parallel.tensor_rank(r), parallel.sequence_rank(r));
    }
    const ShardLayout& layout = layouts[static_cast<size_t>(r)];
    absl::StatusOr<ModelWeights> loaded =
        options.random_weights
            ? MakeRandomWeights(config, layout, *rank.backend, options.random_seed)
            : LoadModelWeights(*checkpoint, config, layout, *rank.backend, /*show_progress=*/r == 0);
    if (loaded.ok()) weights[static_cast<size_t>(r)] = *std::move(loaded);
    status[static_cast<size_t>(r)] = loaded.status();
  });
  for (const absl::Status& s : status) RETURN_IF_ERROR(s);
  ASSIGN_OR_RETURN(const int32_t blocks, executor->BlocksPerRank(config, stored_heads));
  executor->workers_->RunOnAll([&](int r) {
    Rank& rank = executor->ranks_[static_cast<size_t>(r)];
    const ShardLayout& layout = layouts[static_cast<size_t>(r)];
    const KvStorageOptions kv{blocks, options.block_size, StoredKvHeads(config, parallel, layout)};
    absl::StatusOr<std::unique_ptr<LlamaModel>> model =
        LlamaModel::Create(config, std::move(weights[static_cast<size_t>(r)]), *rank.backend, kv);
    if (!model.ok()) {
      status[static_cast<size_t>(r)] = model.status();
      return;
    }
    rank.model = *std::move(model);
    rank.forward = std::make_unique<ParallelForward>(parallel, *rank.model, *rank.comm,
                                                     rank.tensor_comm.get(), rank.sequence_comm.get());
  });
  for (const absl::Status& s : status) RETURN_IF_ERROR(s);
  executor->kv_ = std::make_unique<ShardedKvCache>(parallel.kv_degree(), blocks, options.block_size,
                                                   parallel.kv_placement());
  if (options.decode_graphs) {
    // Collectives staged through host memory cannot be recorded.
    bool can_record = !options.share_gpus;
    for (const Rank& rank : executor->ranks_) can_record = can_record && rank.backend->can_record();
    executor->recorder_ = std::make_unique<DecodeRecorder>(can_record);
  }
  return executor;
}

absl::StatusOr<std::vector<std::vector<TokenSlot>>> ParallelExecutor::ReserveSlots(const BatchPlan& plan) {
  std::vector<std::vector<TokenSlot>> slots;
  for (const ScheduledSeq& s : plan.seqs) {
    absl::StatusOr<std::vector<TokenSlot>> reserved = kv_->Append(s.seq_id, s.first_position, s.num_tokens);
    if (!reserved.ok()) {  // undo this step's earlier reservations
      for (size_t i = 0; i < slots.size(); ++i) kv_->Truncate(plan.seqs[i].seq_id, plan.seqs[i].first_position);
      return reserved.status();
    }
    slots.push_back(*std::move(reserved));
  }
  return slots;
}

absl::StatusOr<StepOutput> ParallelExecutor::Run(const BatchPlan& plan) {
  ASSIGN_OR_RETURN(const std::vector<std::vector<TokenSlot>> slots, ReserveSlots(plan));
  kv_pages_peak_.resize(static_cast<size_t>(kv_->degree()), 0);
  for (int32_t k = 0; k < kv_->degree(); ++k) {
    kv_pages_peak_[static_cast<size_t>(k)] =
        std::max(kv_pages_peak_[static_cast<size_t>(k)], kv_->rank(k).num_used_blocks());
  }
  std::vector<RankStep> steps = LayOutStep(plan, slots, *kv_, /*sequence_sharded_prefill=*/true);
  std::vector<std::vector<BlockCopyOp>> copies(static_cast<size_t>(kv_->degree()));
  for (int32_t k = 0; k < kv_->degree(); ++k) {
    for (const BlockCopy& c : kv_->rank(k).TakePendingCopies()) {
      copies[static_cast<size_t>(k)].push_back({c.src_block, c.dst_block});
    }
  }
  std::vector<absl::Status> reserved(ranks_.size());
  workers_->RunOnAll([&](int r) {
    Rank& rank = ranks_[static_cast<size_t>(r)];
    const size_t k = static_cast<size_t>(options_.parallel.kv_rank(r));
    // Before the decode recorder decides: nothing a rank does after that may move its buffers.
    rank.model->CopyBlocks(copies[k]);
    reserved[static_cast<size_t>(r)] = rank.forward->ReserveStepMemory(steps[k]);
  });
  for (const absl::Status& s : reserved) {
    if (s.ok()) continue;
    for (const ScheduledSeq& e : plan.seqs) kv_->Truncate(e.seq_id, e.first_position);
    return s;
  }
  if (recorder_ != nullptr) recorder_->Plan(plan, steps, Generations());
  std::vector<absl::StatusOr<StepOutput>> outputs(ranks_.size());
  workers_->RunOnAll([&](int r) {
    Rank& rank = ranks_[static_cast<size_t>(r)];
    const size_t k = static_cast<size_t>(options_.parallel.kv_rank(r));
    outputs[static_cast<size_t>(r)] = rank.forward->Run(steps[k]);
    FinishStep(rank);
  });
  if (recorder_ != nullptr) {
    const bool ok = std::all_of(outputs.begin(), outputs.end(), [](const auto& o) { return o.ok(); });
    recorder_->Finished(steps, Generations(), ok);
  }
  for (const auto& o : outputs) RETURN_IF_ERROR(o.status());
  StepOutput output = *std::move(outputs[0]);
  output.vocab_size = ranks_[0].model->config().vocab_size;
  output.logit_index = LogitIndex(plan);
  return output;
}

void ParallelExecutor::FinishStep(Rank& rank) {
  rank.backend->Synchronize();
  for (Communicator* c : {rank.comm.get(), rank.tensor_comm.get(), rank.sequence_comm.get()}) {
    if (c != nullptr) c->FlushStats();
  }
}

MemoryGenerations ParallelExecutor::Generations() const {
  MemoryGenerations generations;
  for (const Rank& rank : ranks_) {
    generations.emplace_back(rank.model->memory_generation(), rank.backend->workspace_generation());
  }
  return generations;
}

void ParallelExecutor::ResetMemoryPeaks() {
  workers_->RunOnAll([&](int r) {
    Rank& rank = ranks_[static_cast<size_t>(r)];
    rank.backend->Synchronize();
    rank.model->ReleaseStepMemory();
    rank.backend->allocator().ResetPeaks();
  });
  for (int32_t k = 0; k < kv_->degree() && static_cast<size_t>(k) < kv_pages_peak_.size(); ++k) {
    kv_pages_peak_[static_cast<size_t>(k)] = kv_->rank(k).num_used_blocks();
  }
}

std::vector<RankReport> ParallelExecutor::Reports() const {
  std::vector<RankReport> reports;
  for (size_t r = 0; r < ranks_.size(); ++r) {
    const Rank& rank = ranks_[r];
    RankReport report;
    report.rank = static_cast<int32_t>(r);
    report.weight_bytes = rank.model->weights().bytes();
    report.memory = rank.backend->allocator().stats();
    report.comm = rank.comm->stats();
    for (const Communicator* group : {rank.tensor_comm.get(), rank.sequence_comm.get()}) {
      if (group != nullptr) report.comm = Sum(report.comm, group->stats());
    }
    const int32_t k = options_.parallel.kv_rank(static_cast<int32_t>(r));
    report.kv_pages_used = kv_->rank(k).num_used_blocks();
    report.kv_pages_total = kv_->rank(k).num_blocks();
    report.kv_page_bytes = rank.model->kv_page_bytes();
    report.kv_pages_peak = static_cast<size_t>(k) < kv_pages_peak_.size() ? kv_pages_peak_[static_cast<size_t>(k)] : 0;
    reports.push_back(report);
  }
  return reports;
}

CommStats ParallelExecutor::TotalCommStats() const {
  CommStats total;
  for (const Rank& rank : ranks_) {
    for (const Communicator* c : {rank.comm.get(), rank.tensor_comm.get(), rank.sequence_comm.get()}) {
      if (c != nullptr) total = Sum(total, c->stats());
    }
  }
  return total;
}

void ParallelExecutor::ResetCommStats() {
  for (Rank& rank : ranks_) {
    for (Communicator* c : {rank.comm.get(), rank.tensor_comm.get(), rank.sequence_comm.get()}) {
      if (c != nullptr) c->ResetStats();
    }
  }
}

}  // namespace tspserve
