#include "server/bench/device_rates.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "engine/common/status.h"

namespace tspserve::bench {
namespace {

// Best wall time of `repeat` runs of fn (each followed by a device synchronize), after one warm-up.
template <typename Fn>
double BestSeconds(Backend& backend, int repeat, Fn fn) {
  fn();
  backend.Synchronize();
  double best = std::numeric_limits<double>::max();
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    backend.Synchronize();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

}  // namespace

absl::StatusOr<DeviceRates> MeasureDeviceRates(Backend& backend, int64_t matmul_size, int64_t copy_bytes) {
  const DType dtype = backend.compute_dtype();
  const int64_t n = matmul_size;
  const size_t matrix_bytes = static_cast<size_t>(n * n) * DTypeSize(dtype);
  ASSIGN_OR_RETURN(Buffer a, backend.Allocate(matrix_bytes, MemoryKind::kWorkspace));
  ASSIGN_OR_RETURN(Buffer b, backend.Allocate(matrix_bytes, MemoryKind::kWorkspace));
  ASSIGN_OR_RETURN(Buffer c, backend.Allocate(matrix_bytes, MemoryKind::kWorkspace));
  const Tensor x = a.AsTensor(dtype, {n, n}), w = b.AsTensor(dtype, {n, n}), out = c.AsTensor(dtype, {n, n});
  backend.FillRandom(x, 1, 1.0f);
  backend.FillRandom(w, 2, 1.0f);
  constexpr int kProducts = 8;
  const double matmul_seconds = BestSeconds(backend, 3, [&] {
    for (int i = 0; i < kProducts; ++i) backend.MatMul(x, w, out, /*accumulate=*/false);
  });
  DeviceRates rates;
  rates.matmul_size = n;
  rates.dtype = std::string(DTypeName(dtype));
  rates.matmul_flops_per_s = kProducts * 2.0 * static_cast<double>(n * n * n) / matmul_seconds;

  const int64_t cols = 4096;
  const int64_t rows = std::max<int64_t>(1, copy_bytes / (cols * static_cast<int64_t>(DTypeSize(dtype))));
  const size_t bytes = static_cast<size_t>(rows * cols) * DTypeSize(dtype);
  ASSIGN_OR_RETURN(Buffer src, backend.Allocate(bytes, MemoryKind::kWorkspace));
  ASSIGN_OR_RETURN(Buffer dst, backend.Allocate(bytes, MemoryKind::kWorkspace));
  const Tensor from = src.AsTensor(dtype, {rows, cols}), to = dst.AsTensor(dtype, {rows, cols});
  constexpr int kCopies = 4;
  const double copy_seconds = BestSeconds(backend, 3, [&] {
    for (int i = 0; i < kCopies; ++i) backend.Copy(to, from);
  });
  rates.copy_bytes = static_cast<int64_t>(bytes);
  rates.copy_bytes_per_s = kCopies * 2.0 * static_cast<double>(bytes) / copy_seconds;
  return rates;
}

}  // namespace tspserve::bench
