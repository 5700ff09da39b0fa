// The engine flags that `tspserve generate` and `tspserve serve` share: the model, the parallel
// layout and the KV cache and scheduler limits.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/statusor.h"
#include "engine/engine.h"

namespace tspserve {

struct EngineFlags {
  std::string model;  // empty: the built-in tiny model
  std::string parallel = "tsp";
  std::string decode_schedule = "weight-stationary";
  std::string device = "auto";
  int64_t kv_cache_mb = 0;  // 0: 256 MiB on the CPU, what --gpu-memory-utilization leaves on CUDA
  EngineOptions engine;  // degree, tp, sp, block size, page count and scheduler limits
};

// Adds --model, --device, --gpu-memory-utilization, --parallel, --degree, --tp, --sp, --decode-schedule, --block-size, --kv-cache-mb,
// --num-kv-blocks, --max-num-seqs, --max-batched-tokens and --max-queued-requests to `cmd`, bound
// to `flags` (which must outlive the parse).
void AddEngineFlags(CLI::App& cmd, EngineFlags& flags);

// The parallel mode and decode schedule parsed and filled in (tp_sp with the default degree takes
// tp * sp ranks), the KV bytes from --kv-cache-mb, no model directory yet. InvalidArgument naming
// the flag for an unknown mode or schedule.
absl::StatusOr<EngineOptions> ParseEngineFlags(const EngineFlags& flags);

// --model, or the built-in model's folder (generated on first use, which takes a moment).
absl::StatusOr<std::string> ResolveModelDir(const EngineFlags& flags);

}  // namespace tspserve
