// An executor on the GPUs for the GPU tests: one rank per GPU, bf16, NCCL, 64 MiB of KV pages
// per rank in pages of 16 tokens. With more ranks than GPUs the ranks share them and their
// collectives are staged through host memory (ExecutorOptions::share_gpus), which cannot be
// recorded: callers that record decode steps must skip such degrees.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "engine/parallel/parallel_config.h"
#include "engine/runtime/parallel_executor.h"
#include "engine/runtime/rank_devices.h"
#include "models/config/model_config.h"

namespace tspserve::testing_support {

inline std::unique_ptr<ParallelExecutor> MakeCudaExecutor(const std::string& model_dir, const ParallelConfig& parallel,
                                                          bool decode_graphs = false) {
  absl::StatusOr<ModelConfig> config = LoadModelConfig(model_dir);
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return nullptr;
  ExecutorOptions options;
  options.parallel = parallel;
  options.device = Device::kCuda;
  options.block_size = 16;
  options.kv_cache_bytes = 64 << 20;
  options.decode_graphs = decode_graphs;
  options.share_gpus = parallel.degree > AvailableDevices(Device::kCuda);
  absl::StatusOr<std::unique_ptr<ParallelExecutor>> executor = ParallelExecutor::Create(model_dir, *config, options);
  EXPECT_TRUE(executor.ok()) << executor.status();
  return executor.ok() ? std::move(*executor) : nullptr;
}

// A test name for a ParallelConfig parameter: the mode, "_broadcast" for that decode schedule,
// and "_n" with the degree (tsp_n2, tsp_broadcast_n2, tp_sp_n4).
inline std::string ParallelTestName(const testing::TestParamInfo<ParallelConfig>& info) {
  const ParallelConfig& p = info.param;
  return std::string(ParallelModeName(p.mode)) + (p.decode_schedule == DecodeSchedule::kBroadcast ? "_broadcast" : "") +
         "_n" + std::to_string(p.degree);
}

}  // namespace tspserve::testing_support
