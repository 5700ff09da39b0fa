// ModelRunner: runs one BatchPlan on one rank: reserves the K/V slots of the plan's tokens in the
// rank's paged cache, lays out the step's ForwardBatch, and runs the decoder.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "engine/kv/paged_kv_cache.h"
#include "engine/scheduler/batch_plan.h"
#include "models/llama_model.h"

namespace tspserve {

class ModelRunner {
 public:
  ModelRunner(std::unique_ptr<LlamaModel> decoder, std::unique_ptr<Backend> backend);
  ~ModelRunner();

  // The scheduler must have checked that the pages exist (PagesNeeded); a shortfall here is an
  // error and leaves the cache as it was before the step.
  absl::StatusOr<StepOutput> Run(const BatchPlan& plan);

  PagedKvCache& kv_cache() { return *kv_cache_; }
  const PagedKvCache& kv_cache() const { return *kv_cache_; }
  LlamaModel& decoder() { return *decoder_; }
  Backend& backend() { return *backend_; }

 private:
  absl::StatusOr<ForwardBatch> Prepare(const BatchPlan& plan, StepOutput* output);

  std::unique_ptr<Backend> backend_;  // declared first: destroyed after the decoder's buffers
  std::unique_ptr<LlamaModel> decoder_;
  std::unique_ptr<PagedKvCache> kv_cache_;
};

}  // namespace tspserve
