#include "engine/runtime/rank_devices.h"

#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/comm/local_communicator.h"
#include "engine/common/status.h"
#include "engine/runtime/host_staged_communicator.h"

#if TSPSERVE_HAVE_CUDA
#include "engine/backend/cuda/cuda_backend.h"
#include "engine/comm/nccl_communicator.h"
#endif

namespace tspserve {
namespace {

absl::StatusOr<RankDevices> MakeCudaRanks(int32_t degree, int32_t gpus) {
#if TSPSERVE_HAVE_CUDA
  RankDevices ranks;
  std::vector<int> devices;
  std::vector<void*> streams;
  for (int32_t r = 0; r < degree; ++r) {
    ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend, MakeCudaBackend(r % gpus));
    devices.push_back(r);
    streams.push_back(backend->stream());
    ranks.backends.push_back(std::move(backend));
  }
  if (degree > gpus || degree == 1) {  // ranks share GPUs (or there is one): host-staged
    std::vector<std::unique_ptr<Communicator>> host = LocalCommunicator::CreateGroup(degree);
    for (int32_t r = 0; r < degree; ++r) {
      ranks.comms.push_back(std::make_unique<HostStagedCommunicator>(std::move(host[static_cast<size_t>(r)]),
                                                                     *ranks.backends[static_cast<size_t>(r)]));
    }
    return ranks;
  }
  ASSIGN_OR_RETURN(ranks.comms, NcclCommunicator::CreateGroup(devices, streams));
  return ranks;
#else
  (void)gpus;
  return absl::FailedPreconditionError("this build has no CUDA backend (configure with -DTSPSERVE_WITH_CUDA=ON)");
#endif
}

}  // namespace

int32_t AvailableDevices(Device kind) {
  if (kind == Device::kCpu) return std::numeric_limits<int32_t>::max();
#if TSPSERVE_HAVE_CUDA
  return CudaDeviceCount();
#else
  return 0;
#endif
}

absl::StatusOr<RankDevices> MakeRankDevices(Device kind, int32_t degree, bool share_gpus) {
  if (degree < 1) return absl::InvalidArgumentError(absl::StrCat("degree must be >= 1, got ", degree));
  if (kind == Device::kCpu) {
    RankDevices ranks;
    for (int32_t r = 0; r < degree; ++r) ranks.backends.push_back(MakeCpuBackend());
    ranks.comms = LocalCommunicator::CreateGroup(degree);
    return ranks;
  }
  const int32_t gpus = AvailableDevices(Device::kCuda);
  if (gpus < 1 || (gpus < degree && !share_gpus)) {
    return absl::FailedPreconditionError(
        absl::StrCat(degree, " ranks need ", degree, " CUDA devices; this machine has ", gpus));
  }
  return MakeCudaRanks(degree, gpus);
}

std::string_view DeviceName(Device kind) { return kind == Device::kCuda ? "cuda" : "cpu"; }

absl::StatusOr<Device> ParseDevice(std::string_view name, int32_t degree) {
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  if (name == "auto") return AvailableDevices(Device::kCuda) >= degree ? Device::kCuda : Device::kCpu;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device \"", std::string(name), "\"; expected cpu, cuda or auto"));
}

}  // namespace tspserve
