#include "engine/backend/backend.h"

#include <vector>

#include "engine/common/check.h"

namespace tspserve {

void Backend::BeginRecording() { LOG(FATAL) << name() << " cannot record its ops"; }

absl::StatusOr<std::unique_ptr<Backend::Recording>> Backend::EndRecording() {
  return absl::UnimplementedError(name() + " cannot record its ops");
}

void Backend::UploadFloat(const Tensor& dst, const float* host_src) {
  CHECK(dst.is_contiguous()) << "UploadFloat into a strided tensor";
  std::vector<char> staging(dst.nbytes());
  ConvertFromFloat(host_src, static_cast<size_t>(dst.numel()), dst.dtype(), staging.data());
  CopyFromHost(dst, staging.data());
}

void Backend::DownloadFloat(float* host_dst, const Tensor& src) {
  CHECK(src.is_contiguous()) << "DownloadFloat from a strided tensor";
  std::vector<char> staging(src.nbytes());
  CopyToHost(staging.data(), src);
  ConvertToFloat(src.dtype(), staging.data(), static_cast<size_t>(src.numel()), host_dst);
}

}  // namespace tspserve
