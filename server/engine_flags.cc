#include "server/engine_flags.h"

#include "engine/common/status.h"
#include "engine/runtime/rank_devices.h"
#include "models/synthetic/make_model.h"

namespace tspserve {

void AddEngineFlags(CLI::App& cmd, EngineFlags& flags) {
  cmd.add_option("--model", flags.model, "Hugging Face model folder (default: the built-in tiny model)");
  cmd.add_option("--device", flags.device, "cpu, cuda or auto (default: cuda when there are enough GPUs)");
  cmd.add_option("--gpu-memory-utilization", flags.engine.gpu_memory_utilization,
                 "CUDA: fraction of each GPU's memory for weights, activations and KV pages")
      ->check(CLI::Range(0.05, 1.0));
  cmd.add_option("--parallel", flags.parallel, "tsp (default), tp, sp or tp_sp (with --tp, --sp)");
  cmd.add_option("--degree", flags.engine.parallel.degree, "ranks (threads on the CPU backend)");
  cmd.add_option("--tp", flags.engine.parallel.tp, "tp_sp: ranks per tensor group");
  cmd.add_option("--sp", flags.engine.parallel.sp, "tp_sp: sequence groups");
  cmd.add_option("--decode-schedule", flags.decode_schedule, "TSP decode: weight-stationary or broadcast");
  cmd.add_option("--block-size", flags.engine.block_size, "tokens per KV page");
  cmd.add_option("--kv-cache-mb", flags.kv_cache_mb,
                 "KV cache memory per rank, MiB (default: 256 on the CPU, the rest of the GPU on CUDA)");
  cmd.add_option("--num-kv-blocks", flags.engine.num_kv_blocks, "exact KV pages per rank (overrides --kv-cache-mb)");
  cmd.add_option("--max-num-seqs", flags.engine.scheduler.max_num_seqs, "sequences per step");
  cmd.add_option("--max-batched-tokens", flags.engine.scheduler.max_batched_tokens, "tokens per step");
  cmd.add_option("--max-queued-requests", flags.engine.max_queued_requests,
                 "requests waiting beyond this are refused (UNAVAILABLE)");
  cmd.add_flag("--decode-graphs", flags.engine.decode_graphs,
               "CUDA: run decode steps as CUDA graphs, one per batch size (experimental)");
}

absl::StatusOr<EngineOptions> ParseEngineFlags(const EngineFlags& flags) {
  EngineOptions options = flags.engine;
  absl::StatusOr<ParallelMode> mode = ParseParallelMode(flags.parallel);
  if (!mode.ok()) return Annotate(mode.status(), "--parallel");
  absl::StatusOr<DecodeSchedule> schedule = ParseDecodeSchedule(flags.decode_schedule);
  if (!schedule.ok()) return Annotate(schedule.status(), "--decode-schedule");
  options.parallel.mode = *mode;
  options.parallel.decode_schedule = *schedule;
  if (*mode == ParallelMode::kTpSp && options.parallel.degree == 1) {
    options.parallel.degree = options.parallel.tp * options.parallel.sp;
  }
  absl::StatusOr<Device> device = ParseDevice(flags.device, options.parallel.degree);
  if (!device.ok()) return Annotate(device.status(), "--device");
  options.device = *device;
  if (flags.kv_cache_mb < 0) return absl::InvalidArgumentError("--kv-cache-mb must be >= 0");
  options.kv_cache_bytes = flags.kv_cache_mb > 0 ? flags.kv_cache_mb << 20
                           : options.device == Device::kCuda ? 0
                                                             : int64_t{256} << 20;
  return options;
}

absl::StatusOr<std::string> ResolveModelDir(const EngineFlags& flags) {
  if (!flags.model.empty()) return flags.model;
  absl::StatusOr<std::string> builtin = BuiltinModelDir();
  if (!builtin.ok()) return Annotate(builtin.status(), "built-in model");
  return builtin;
}

}  // namespace tspserve
