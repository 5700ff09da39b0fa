// Shared pieces of the CUDA backend conformance tests: a fixture that skips without a device and
// owns a CUDA backend (the subject) and a CPU backend (the fp32 oracle), device tensors whose
// unwritten elements are NaN, bf16-rounded random data, and the relative-L2 comparison that
// DESIGN.md section 5 sets for bf16 GPU results against the CPU (< 2e-2).
//
// The tests go through the Backend interface only. Inputs are rounded to bf16 on the host first,
// so the CPU (F32) and the GPU (BF16, through UploadFloat) start from identical values and every
// difference comes from the GPU's arithmetic and its bf16 outputs.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend/backend.h"
#include "engine/backend/cuda/cuda_backend.h"
#include "engine/common/check.h"
#include "engine/common/dtype.h"
#include "engine/tensor/buffer.h"
#include "engine/tensor/tensor.h"

namespace tspserve::gpu_test {

inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
inline constexpr float kInf = std::numeric_limits<float>::infinity();
inline constexpr uint16_t kBf16NaN = 0x7FC0;
inline constexpr uint32_t kF32NaN = 0x7FC00000u;
inline constexpr double kMaxRelativeL2 = 2e-2;

inline float RoundBf16(float x) { return Bf16ToFloat(FloatToBf16(x)); }

// n values uniform in [lo, hi), each rounded to bf16.
inline std::vector<float> RandomBf16(size_t n, std::mt19937& rng, float lo = -1.0f,
                                     float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = RoundBf16(dist(rng));
  return v;
}

// A host F32 tensor over `v` (the CPU backend's operands).
inline Tensor HostF32(std::vector<float>& v, std::initializer_list<int64_t> shape) {
  return Tensor(v.data(), DType::kF32, shape);
}

// ||got - want|| / ||want|| over the finite elements of `got`, the count of non-finite ones, and
// the element to report: the first non-finite one, else the one of largest absolute difference.
struct Comparison {
  double relative_l2 = 0.0;
  int64_t non_finite = 0;
  int64_t worst = -1;
};

inline Comparison Compare(const std::vector<float>& got, const std::vector<float>& want) {
  Comparison c;
  double diff = 0.0, norm = 0.0, largest = -1.0;
  int64_t first_non_finite = -1;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (!std::isfinite(got[i])) {
      if (c.non_finite++ == 0) first_non_finite = static_cast<int64_t>(i);
      continue;
    }
    const double d = static_cast<double>(got[i]) - want[i];
    diff += d * d;
    norm += static_cast<double>(want[i]) * want[i];
    if (std::abs(d) > largest) {
      largest = std::abs(d);
      c.worst = static_cast<int64_t>(i);
    }
  }
  if (first_non_finite >= 0) c.worst = first_non_finite;
  c.relative_l2 = norm > 0.0 ? std::sqrt(diff / norm) : (diff > 0.0 ? kInf : 0.0);
  return c;
}

// Passes when sizes match, `got` is finite everywhere and its relative L2 error against `want` is
// below kMaxRelativeL2; the message names the measured error either way.
inline ::testing::AssertionResult Close(const std::vector<float>& got,
                                        const std::vector<float>& want, const std::string& what) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << what << ": " << got.size() << " elements, want " << want.size();
  }
  const Comparison c = Compare(got, want);
  std::ostringstream msg;
  msg << what << ": relative L2 error " << c.relative_l2 << " (limit " << kMaxRelativeL2 << "), "
      << c.non_finite << " non-finite of " << got.size();
  if (c.worst >= 0) {
    msg << "; worst element " << c.worst << ": gpu " << got[static_cast<size_t>(c.worst)]
        << ", cpu " << want[static_cast<size_t>(c.worst)];
  }
  if (c.non_finite > 0 || !(c.relative_l2 < kMaxRelativeL2)) {
    return ::testing::AssertionFailure() << msg.str();
  }
  return ::testing::AssertionSuccess() << msg.str();
}

// A [rows, cols] matrix on the device, stored at columns [offset, offset + cols) of a contiguous
// [rows, width] buffer: `view` has strided rows exactly like a column view of a fused projection.
struct GpuMatrix {
  Tensor full;  // [rows, width]
  Tensor view;  // [rows, cols]
  int64_t offset = 0;

  int64_t rows() const { return view.dim(0); }
  int64_t cols() const { return view.dim(1); }
  int64_t width() const { return full.dim(1); }
};

// The fixture every GPU test derives from. SetUp skips the test when no CUDA device exists and
// otherwise makes the backends; every device allocation lives until the test ends.
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    absl::StatusOr<std::unique_ptr<Backend>> gpu = MakeCudaBackend(0);
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    gpu_ = *std::move(gpu);
  }

  // A contiguous device tensor, every element NaN (bf16 0x7FC0 / F32 0x7FC00000; other dtypes
  // all-ones bytes), written through CopyFromHost.
  Tensor NewTensor(DType dtype, std::vector<int64_t> shape) {
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    const size_t bytes = static_cast<size_t>(numel) * DTypeSize(dtype);
    absl::StatusOr<Buffer> buffer = gpu_->Allocate(bytes > 0 ? bytes : 256, MemoryKind::kWorkspace);
    CHECK(buffer.ok()) << buffer.status();
    const Tensor t(buffer->data(), dtype, shape.data(), static_cast<int>(shape.size()),
                   gpu_->device());
    buffers_.push_back(*std::move(buffer));
    Poison(t);
    return t;
  }

  // Overwrites contiguous `t` with NaN (see NewTensor).
  void Poison(const Tensor& t) {
    const size_t n = static_cast<size_t>(t.numel());
    if (t.dtype() == DType::kBF16) {
      const std::vector<uint16_t> nan(n, kBf16NaN);
      gpu_->CopyFromHost(t, nan.data());
    } else if (t.dtype() == DType::kF32) {
      const std::vector<uint32_t> nan(n, kF32NaN);
      gpu_->CopyFromHost(t, nan.data());
    } else {
      const std::vector<uint8_t> ones(t.nbytes(), 0xFF);
      gpu_->CopyFromHost(t, ones.data());
    }
  }

  // A bf16 device tensor holding `values` (converted with UploadFloat).
  Tensor Upload(const std::vector<float>& values, std::vector<int64_t> shape) {
    const Tensor t = NewTensor(gpu_->compute_dtype(), std::move(shape));
    CHECK_EQ(static_cast<size_t>(t.numel()), values.size());
    gpu_->UploadFloat(t, values.data());
    return t;
  }

  // A device tensor of `dtype` holding the raw bytes of `values` (indices, F32 tables, lse).
  template <typename T>
  Tensor UploadRaw(const std::vector<T>& values, DType dtype, std::vector<int64_t> shape) {
    const Tensor t = NewTensor(dtype, std::move(shape));
    CHECK_EQ(t.nbytes(), values.size() * sizeof(T));
    gpu_->CopyFromHost(t, values.data());
    return t;
  }

  // The backend's activation dtype (BF16 on CUDA).
  DType act() const { return gpu_->compute_dtype(); }

  // A compute-dtype matrix inside a wider buffer (see GpuMatrix); the pad columns hold NaN, the
  // matrix holds `values` ([rows, cols] dense) or NaN when `values` is null.
  GpuMatrix Matrix(int64_t rows, int64_t cols, int64_t pad, int64_t offset,
                   const std::vector<float>* values) {
    return MatrixOf(act(), rows, cols, pad, offset, values);
  }
  // The same in `dtype` (compute dtype or F32).
  GpuMatrix MatrixOf(DType dtype, int64_t rows, int64_t cols, int64_t pad, int64_t offset,
                     const std::vector<float>* values) {
    CHECK(offset >= 0 && offset <= pad);
    GpuMatrix m;
    m.full = NewTensor(dtype, {rows, cols + pad});
    m.view = m.full.Columns(offset, offset + cols);
    m.offset = offset;
    if (values != nullptr) {
      CHECK_EQ(values->size(), static_cast<size_t>(rows * cols));
      std::vector<float> host(static_cast<size_t>(rows * (cols + pad)), kNaN);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          host[static_cast<size_t>(r * (cols + pad) + offset + c)] =
              (*values)[static_cast<size_t>(r * cols + c)];
        }
      }
      UploadAsFloat(m.full, host);
    }
    return m;
  }

  // Host floats of contiguous `t` (compute dtype through DownloadFloat, F32 raw).
  std::vector<float> Download(const Tensor& t) {
    std::vector<float> host(static_cast<size_t>(t.numel()));
    gpu_->Synchronize();
    if (t.dtype() == DType::kF32) {
      gpu_->CopyToHost(host.data(), t);
    } else {
      gpu_->DownloadFloat(host.data(), t);
    }
    gpu_->Synchronize();
    return host;
  }

  // The matrix's [rows, cols] values. `pads_intact` (when given) is set to whether every pad
  // column still holds NaN, i.e. the op wrote nothing outside its view.
  std::vector<float> Read(const GpuMatrix& m, bool* pads_intact = nullptr) {
    const std::vector<float> full = Download(m.full);
    std::vector<float> dense;
    dense.reserve(static_cast<size_t>(m.rows() * m.cols()));
    bool intact = true;
    for (int64_t r = 0; r < m.rows(); ++r) {
      for (int64_t c = 0; c < m.width(); ++c) {
        const float x = full[static_cast<size_t>(r * m.width() + c)];
        if (c >= m.offset && c < m.offset + m.cols()) {
          dense.push_back(x);
        } else if (!std::isnan(x)) {
          intact = false;
        }
      }
    }
    if (pads_intact != nullptr) *pads_intact = intact;
    return dense;
  }

  std::unique_ptr<Backend> cpu_ = MakeCpuBackend();
  std::unique_ptr<Backend> gpu_;
  std::mt19937 rng_{20240611};

 private:
  void UploadAsFloat(const Tensor& t, const std::vector<float>& host) {
    if (t.dtype() == DType::kF32) {
      gpu_->CopyFromHost(t, host.data());
    } else {
      gpu_->UploadFloat(t, host.data());
    }
  }

  std::vector<Buffer> buffers_;  // destroyed before gpu_ (declared after it)
};

}  // namespace tspserve::gpu_test
