// RankDevices: what each rank of a group computes and communicates with, for a device kind: the
// CPU backend with thread-based collectives, or one CUDA backend per GPU (rank r on device r) with
// NCCL between them. The only place that knows which backends this build has.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend/backend.h"
#include "engine/comm/communicator.h"

namespace tspserve {

struct RankDevices {
  std::vector<std::unique_ptr<Backend>> backends;   // [degree]
  std::vector<std::unique_ptr<Communicator>> comms;  // [degree], rank r's handle on the group
};

// Devices of `kind` this process can use: CUDA GPUs (0 in a build without CUDA or on a machine
// without a GPU); for the CPU, any number of ranks (returns a large count).
int32_t AvailableDevices(Device kind);

// Backends and a communicator group for `degree` ranks. FailedPrecondition when the build has no
// CUDA backend or fewer GPUs than ranks, unless `share_gpus`: then rank r runs on GPU r % count and
// collectives go through host memory (HostStagedCommunicator), so every schedule can be tested
// with N ranks on fewer GPUs. Slow; never for serving.
absl::StatusOr<RankDevices> MakeRankDevices(Device kind, int32_t degree, bool share_gpus = false);

// "cpu" / "cuda"; ParseDevice also takes "auto": CUDA when at least `degree` GPUs are present.
std::string_view DeviceName(Device kind);
absl::StatusOr<Device> ParseDevice(std::string_view name, int32_t degree);

}  // namespace tspserve
