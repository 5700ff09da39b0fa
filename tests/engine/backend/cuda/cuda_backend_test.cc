// Every op of the CUDA backend except Attention (cuda_attention_test.cc) against the CPU backend on
// the same bf16-rounded random inputs: awkward sizes, strided row views where the contract allows
// them, outputs poisoned with NaN so that an unwritten element fails, relative L2 error < 2e-2 for
// arithmetic and exact equality for data movement.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <numeric>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/common/random_fill.h"
#include "engine/common/rank_key.h"
#include "tests/engine/backend/cuda/cuda_test_util.h"

namespace tspserve::gpu_test {
namespace {

using CudaBackendTest = GpuTest;

// Asserts that two vectors are element-wise identical (data movement is exact in bf16).
::testing::AssertionResult Identical(const std::vector<float>& got, const std::vector<float>& want,
                                     const std::string& what) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << what << ": " << got.size() << " elements, want " << want.size();
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(got[i] == want[i])) {
      return ::testing::AssertionFailure()
             << what << ": element " << i << " is " << got[i] << ", want " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

TEST_F(CudaBackendTest, Identity) {
  EXPECT_EQ(gpu_->device(), Device::kCuda);
  EXPECT_EQ(gpu_->compute_dtype(), DType::kBF16);
  EXPECT_FALSE(gpu_->name().empty());
  EXPECT_NE(gpu_->stream(), nullptr);
  const Backend::MemoryInfo memory = gpu_->DeviceMemory();
  EXPECT_GT(memory.total_bytes, 0);
  EXPECT_GT(memory.free_bytes, 0);
  EXPECT_LE(memory.free_bytes, memory.total_bytes);
  gpu_->Synchronize();
}

TEST_F(CudaBackendTest, AllocateAccountsInTheOwnAllocator) {
  const int kv = static_cast<int>(MemoryKind::kKvCache);
  const int64_t before = gpu_->allocator().stats().in_use[kv];
  {
    absl::StatusOr<Buffer> buffer = gpu_->Allocate(1 << 20, MemoryKind::kKvCache);
    ASSERT_TRUE(buffer.ok()) << buffer.status();
    EXPECT_EQ(buffer->device(), Device::kCuda);
    EXPECT_EQ(gpu_->allocator().stats().in_use[kv], before + (1 << 20));
  }
  EXPECT_EQ(gpu_->allocator().stats().in_use[kv], before);
}

TEST_F(CudaBackendTest, CopiesAndFloatConversionsRoundTrip) {
  // Raw bytes of every dtype the engine moves, then bf16 through the float conversions.
  const std::vector<uint16_t> bits = {0x3F80, 0xBF80, 0x7FC0, 0x0001, 0xFF80, 0x4049, 0x0000};
  const Tensor b = UploadRaw(bits, DType::kBF16, {7});
  std::vector<uint16_t> bits_back(7);
  gpu_->CopyToHost(bits_back.data(), b);
  gpu_->Synchronize();
  EXPECT_EQ(bits_back, bits);

  const std::vector<int64_t> wide = {-1, 0, int64_t{1} << 40, 7};
  const Tensor w = UploadRaw(wide, DType::kI64, {4});
  std::vector<int64_t> wide_back(4);
  gpu_->CopyToHost(wide_back.data(), w);
  gpu_->Synchronize();
  EXPECT_EQ(wide_back, wide);

  const std::vector<float> values = RandomBf16(7 * 33, rng_, -100.0f, 100.0f);
  const Tensor t = Upload(values, {7, 33});
  EXPECT_TRUE(Identical(Download(t), values, "UploadFloat/DownloadFloat"));
  const Tensor f = UploadRaw(values, DType::kF32, {7, 33});
  EXPECT_TRUE(Identical(Download(f), values, "F32 CopyFromHost/CopyToHost"));
  // Empty tensors copy nothing.
  gpu_->CopyFromHost(t.Slice(0, 0), nullptr);
  gpu_->CopyToHost(nullptr, t.Slice(3, 3));
  gpu_->Synchronize();
}

// ---- MatMul ----

struct MatMulSize {
  int64_t m, k, n;
};
void PrintTo(const MatMulSize& s, std::ostream* os) {
  *os << "M " << s.m << ", K " << s.k << ", N " << s.n;
}

std::vector<MatMulSize> AllMatMulSizes() {
  std::vector<MatMulSize> sizes;
  for (int64_t m : {1, 7, 33, 130}) {
    for (int64_t k : {192, 320, 4096}) {
      for (int64_t n : {1, 17, 320}) sizes.push_back(MatMulSize{m, k, n});
    }
  }
  return sizes;
}

class MatMulTest : public GpuTest, public ::testing::WithParamInterface<MatMulSize> {
 protected:
  // The CPU's out = x · wᵀ (+ initial).
  std::vector<float> CpuMatMul(std::vector<float> x, std::vector<float> w,
                               const std::vector<float>* initial) {
    const auto [m, k, n] = GetParam();
    std::vector<float> out = initial != nullptr ? *initial : std::vector<float>(m * n, kNaN);
    cpu_->MatMul(HostF32(x, {m, k}), HostF32(w, {n, k}), HostF32(out, {m, n}),
                 initial != nullptr);
    return out;
  }
};

TEST_P(MatMulTest, ContiguousMatchesCpu) {
  const auto [m, k, n] = GetParam();
  const std::vector<float> x = RandomBf16(m * k, rng_), w = RandomBf16(n * k, rng_);
  const Tensor out = NewTensor(act(), {m, n});
  gpu_->MatMul(Upload(x, {m, k}), Upload(w, {n, k}), out, /*accumulate=*/false);
  EXPECT_TRUE(Close(Download(out), CpuMatMul(x, w, nullptr), "MatMul"));
}

TEST_P(MatMulTest, Fp32OutputMatchesCpu) {  // the LM head's logits
  const auto [m, k, n] = GetParam();
  const std::vector<float> x = RandomBf16(m * k, rng_), w = RandomBf16(n * k, rng_);
  const Tensor out = NewTensor(DType::kF32, {m, n});
  gpu_->MatMul(Upload(x, {m, k}), Upload(w, {n, k}), out, /*accumulate=*/false);
  EXPECT_TRUE(Close(Download(out), CpuMatMul(x, w, nullptr), "MatMul fp32 out"));
}

TEST_P(MatMulTest, StridedRowsWithAccumulate) {
  const auto [m, k, n] = GetParam();
  const std::vector<float> x = RandomBf16(m * k, rng_), w = RandomBf16(n * k, rng_);
  const std::vector<float> initial = RandomBf16(m * n, rng_);
  // x is a column view of a fused row; out a deliberately misaligned one (offset 3 elements).
  const GpuMatrix gx = Matrix(m, k, /*pad=*/16, /*offset=*/8, &x);
  const GpuMatrix gout = Matrix(m, n, /*pad=*/7, /*offset=*/3, &initial);
  gpu_->MatMul(gx.view, Upload(w, {n, k}), gout.view, /*accumulate=*/true);
  bool pads_intact = false;
  EXPECT_TRUE(Close(Read(gout, &pads_intact), CpuMatMul(x, w, &initial), "MatMul accumulate"));
  EXPECT_TRUE(pads_intact) << "MatMul wrote outside its output view";
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, MatMulTest, ::testing::ValuesIn(AllMatMulSizes()));

// ---- RmsNorm, AddRmsNorm ----

struct NormSize {
  int64_t m, d;
};
void PrintTo(const NormSize& s, std::ostream* os) { *os << "M " << s.m << ", D " << s.d; }

std::vector<NormSize> AllNormSizes() {
  std::vector<NormSize> sizes;
  for (int64_t m : {1, 7, 33, 130}) {
    for (int64_t d : {192, 320, 4096}) sizes.push_back(NormSize{m, d});
  }
  return sizes;
}

class RmsNormTest : public GpuTest, public ::testing::WithParamInterface<NormSize> {
 protected:
  static constexpr float kEps = 1e-6f;

  // The CPU's RmsNorm of x [m, cols] with weight w (groups of w.size() columns).
  std::vector<float> CpuRmsNorm(std::vector<float> x, std::vector<float> w, int64_t m) {
    const int64_t cols = static_cast<int64_t>(x.size()) / std::max<int64_t>(m, 1);
    std::vector<float> out(x.size(), kNaN);
    cpu_->RmsNorm(HostF32(x, {m, cols}), HostF32(w, {static_cast<int64_t>(w.size())}), kEps,
                  HostF32(out, {m, cols}));
    return out;
  }
};

TEST_P(RmsNormTest, StridedInputContiguousOutput) {
  const auto [m, d] = GetParam();
  std::vector<float> x = RandomBf16(m * d, rng_, -3.0f, 3.0f);
  std::fill_n(x.begin(), d, 0.0f);  // a zero row normalises to zeros (eps keeps it finite)
  const std::vector<float> w = RandomBf16(d, rng_, 0.5f, 1.5f);
  const GpuMatrix gx = Matrix(m, d, /*pad=*/64, /*offset=*/64, &x);
  const Tensor out = NewTensor(act(), {m, d});
  gpu_->RmsNorm(gx.view, Upload(w, {d}), kEps, out);
  EXPECT_TRUE(Close(Download(out), CpuRmsNorm(x, w, m), "RmsNorm"));
}

TEST_P(RmsNormTest, InPlaceOnStridedRows) {
  const auto [m, d] = GetParam();
  const std::vector<float> x = RandomBf16(m * d, rng_, -3.0f, 3.0f);
  const std::vector<float> w = RandomBf16(d, rng_, 0.5f, 1.5f);
  const GpuMatrix gx = Matrix(m, d, /*pad=*/24, /*offset=*/8, &x);
  gpu_->RmsNorm(gx.view, Upload(w, {d}), kEps, gx.view);
  bool pads_intact = false;
  EXPECT_TRUE(Close(Read(gx, &pads_intact), CpuRmsNorm(x, w, m), "RmsNorm in place"));
  EXPECT_TRUE(pads_intact) << "RmsNorm wrote outside its view";
}

TEST_P(RmsNormTest, AddRmsNormUpdatesResidualAndWritesOverX) {
  const auto [m, d] = GetParam();
  std::vector<float> residual = RandomBf16(m * d, rng_, -2.0f, 2.0f);
  std::vector<float> x = RandomBf16(m * d, rng_, -2.0f, 2.0f);
  std::vector<float> w = RandomBf16(d, rng_, 0.5f, 1.5f);
  const Tensor g_residual = Upload(residual, {m, d});
  const Tensor g_x = Upload(x, {m, d});
  gpu_->AddRmsNorm(g_residual, g_x, Upload(w, {d}), kEps, g_x);  // out aliases x
  cpu_->AddRmsNorm(HostF32(residual, {m, d}), HostF32(x, {m, d}), HostF32(w, {d}), kEps,
                   HostF32(x, {m, d}));
  EXPECT_TRUE(Close(Download(g_residual), residual, "AddRmsNorm residual"));
  EXPECT_TRUE(Close(Download(g_x), x, "AddRmsNorm out"));
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, RmsNormTest, ::testing::ValuesIn(AllNormSizes()));

TEST_F(CudaBackendTest, RmsNormPerHead) {
  // Qwen3's q/k norm: one weight of D columns over every head of x [M, n*D], in place on the q or k
  // column view of a fused qkv row, and out of place.
  struct Case {
    int64_t m, heads, d;
    bool in_place;
  };
  for (const Case c : {Case{33, 5, 128, true}, Case{7, 3, 64, false}, Case{1, 8, 128, true},
                       Case{130, 2, 64, true}}) {
    SCOPED_TRACE(::testing::Message() << "M " << c.m << ", heads " << c.heads << ", D " << c.d);
    std::vector<float> x = RandomBf16(c.m * c.heads * c.d, rng_, -3.0f, 3.0f);
    std::vector<float> w = RandomBf16(c.d, rng_, 0.5f, 1.5f);
    std::vector<float> want(x.size(), kNaN);
    cpu_->RmsNorm(HostF32(x, {c.m, c.heads * c.d}), HostF32(w, {c.d}), 1e-6f,
                  HostF32(want, {c.m, c.heads * c.d}));
    const GpuMatrix gx = Matrix(c.m, c.heads * c.d, /*pad=*/2 * c.d, /*offset=*/c.d, &x);
    const GpuMatrix gout =
        c.in_place ? gx : Matrix(c.m, c.heads * c.d, /*pad=*/c.d, /*offset=*/0, nullptr);
    gpu_->RmsNorm(gx.view, Upload(w, {c.d}), 1e-6f, gout.view);
    bool pads_intact = false;
    EXPECT_TRUE(Close(Read(gout, &pads_intact), want, "RmsNorm per head"));
    EXPECT_TRUE(pads_intact);
  }
}

// ---- element-wise ----

TEST_F(CudaBackendTest, SiluMulMatchesCpuAndSaturates) {
  for (int64_t m : {1, 7, 33, 130}) {
    for (int64_t inter : {17, 320, 1376}) {
      SCOPED_TRACE(::testing::Message() << "M " << m << ", I " << inter);
      std::vector<float> gate_up = RandomBf16(m * 2 * inter, rng_, -6.0f, 6.0f);
      gate_up[0] = -200.0f;  // exp(200) overflows float: silu must be -0, not NaN
      if (inter > 1) gate_up[1] = 200.0f;
      std::vector<float> want(m * inter, kNaN);
      cpu_->SiluMul(HostF32(gate_up, {m, 2 * inter}), HostF32(want, {m, inter}));
      const Tensor out = NewTensor(act(), {m, inter});
      gpu_->SiluMul(Upload(gate_up, {m, 2 * inter}), out);
      const std::vector<float> got = Download(out);
      EXPECT_TRUE(Close(got, want, "SiluMul"));
      EXPECT_EQ(got[0], 0.0f);
    }
  }
}

TEST_F(CudaBackendTest, AddAndAddBiasOnStridedRows) {
  for (int64_t m : {1, 33, 130}) {
    for (int64_t n : {17, 320}) {
      SCOPED_TRACE(::testing::Message() << "M " << m << ", N " << n);
      std::vector<float> a = RandomBf16(m * n, rng_), b = RandomBf16(m * n, rng_);
      std::vector<float> bias = RandomBf16(n, rng_);
      const GpuMatrix ga = Matrix(m, n, /*pad=*/5, /*offset=*/2, &a);
      const GpuMatrix gb = Matrix(m, n, /*pad=*/3, /*offset=*/3, &b);
      gpu_->Add(ga.view, gb.view);
      gpu_->AddBias(ga.view, Upload(bias, {n}));
      cpu_->Add(HostF32(a, {m, n}), HostF32(b, {m, n}));
      cpu_->AddBias(HostF32(a, {m, n}), HostF32(bias, {n}));
      bool pads_intact = false;
      EXPECT_TRUE(Close(Read(ga, &pads_intact), a, "Add + AddBias"));
      EXPECT_TRUE(pads_intact);
      EXPECT_TRUE(Identical(Read(gb), b, "Add's b"));
      // AddBias alone on a contiguous matrix (the fused qkv bias).
      std::vector<float> x = RandomBf16(m * n, rng_);
      const Tensor gx = Upload(x, {m, n});
      gpu_->AddBias(gx, Upload(bias, {n}));
      cpu_->AddBias(HostF32(x, {m, n}), HostF32(bias, {n}));
      EXPECT_TRUE(Close(Download(gx), x, "AddBias"));
    }
  }
}

// ---- Rope ----

class RopeTest : public GpuTest, public ::testing::WithParamInterface<int32_t> {};

TEST_P(RopeTest, RotateHalfWithFarApartPositions) {
  const int32_t d = GetParam();
  const int64_t t = 33, heads = 3, max_pos = 32768;
  // Qwen's rope_theta 1e6: cos in the first d/2 columns, sin in the last d/2.
  std::vector<float> table(static_cast<size_t>(max_pos * d));
  for (int64_t p = 0; p < max_pos; ++p) {
    for (int32_t i = 0; i < d / 2; ++i) {
      const double angle = static_cast<double>(p) * std::pow(1e6, -2.0 * i / d);
      table[static_cast<size_t>(p * d + i)] = static_cast<float>(std::cos(angle));
      table[static_cast<size_t>(p * d + d / 2 + i)] = static_cast<float>(std::sin(angle));
    }
  }
  std::uniform_int_distribution<int32_t> any_position(0, static_cast<int32_t>(max_pos - 1));
  std::vector<int32_t> positions(t);
  for (int32_t& p : positions) p = any_position(rng_);
  positions[0] = 0;
  positions[1] = static_cast<int32_t>(max_pos - 1);
  positions[2] = 1;
  positions[3] = 0;
  std::vector<float> x = RandomBf16(t * heads * d, rng_, -2.0f, 2.0f);
  const std::vector<float> x0 = x;

  // x is the q block of a fused [k | q | v] row.
  const GpuMatrix gx = Matrix(t, heads * d, /*pad=*/2 * d, /*offset=*/d, &x);
  gpu_->Rope(gx.view, d, UploadRaw(positions, DType::kI32, {t}),
             UploadRaw(table, DType::kF32, {max_pos, d}));
  cpu_->Rope(HostF32(x, {t, heads * d}), d, Tensor(positions.data(), DType::kI32, {t}),
             HostF32(table, {max_pos, d}));
  bool pads_intact = false;
  const std::vector<float> got = Read(gx, &pads_intact);
  EXPECT_TRUE(Close(got, x, "Rope"));
  EXPECT_TRUE(pads_intact) << "Rope wrote outside its view";
  // Position 0 is the identity.
  for (int64_t r : {0, 3}) {
    for (int64_t c = 0; c < heads * d; ++c) {
      const size_t i = static_cast<size_t>(r * heads * d + c);
      ASSERT_EQ(got[i], x0[i]) << "row " << r << " column " << c;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(HeadDims, RopeTest, ::testing::Values(16, 32, 128));

// ---- Embedding, GatherRows, Copy ----

TEST_F(CudaBackendTest, EmbeddingZeroesIdsOfOtherShards) {
  const int64_t rows = 37, hidden = 320, begin = 1000;
  std::vector<float> table = RandomBf16(rows * hidden, rng_);
  std::vector<int32_t> ids = {1000, 999, 1036, 1037, -1, 1012, std::numeric_limits<int32_t>::max(),
                              1000, 0, std::numeric_limits<int32_t>::min()};
  std::uniform_int_distribution<int32_t> near(950, 1050);
  while (ids.size() < 33) ids.push_back(near(rng_));
  const int64_t t = static_cast<int64_t>(ids.size());
  std::vector<float> want(t * hidden, kNaN);
  cpu_->Embedding(Tensor(ids.data(), DType::kI32, {t}), HostF32(table, {rows, hidden}), begin,
                  HostF32(want, {t, hidden}));
  const Tensor out = NewTensor(act(), {t, hidden});
  gpu_->Embedding(UploadRaw(ids, DType::kI32, {t}), Upload(table, {rows, hidden}), begin, out);
  EXPECT_TRUE(Identical(Download(out), want, "Embedding"));
}

TEST_F(CudaBackendTest, GatherRowsWithRepeats) {
  const int64_t t = 130, hidden = 320;
  const std::vector<float> x = RandomBf16(t * hidden, rng_);
  std::vector<int32_t> rows = {129, 0, 129, 64};
  std::uniform_int_distribution<int32_t> any_row(0, static_cast<int32_t>(t - 1));
  while (rows.size() < 17) rows.push_back(any_row(rng_));
  const int64_t s = static_cast<int64_t>(rows.size());
  std::vector<float> x_copy = x, want(s * hidden, kNaN);
  cpu_->GatherRows(HostF32(x_copy, {t, hidden}), Tensor(rows.data(), DType::kI32, {s}),
                   HostF32(want, {s, hidden}));
  const GpuMatrix gx = Matrix(t, hidden, /*pad=*/5, /*offset=*/1, &x);
  const Tensor out = NewTensor(act(), {s, hidden});
  gpu_->GatherRows(gx.view, UploadRaw(rows, DType::kI32, {s}), out);
  EXPECT_TRUE(Identical(Download(out), want, "GatherRows"));
}

TEST_F(CudaBackendTest, CopyOfStridedColumnBlocks) {
  for (int64_t m : {1, 7, 130}) {
    SCOPED_TRACE(::testing::Message() << "M " << m);
    // bf16 head blocks between a fused layout and a compact one, both strided.
    const std::vector<float> src = RandomBf16(m * 320, rng_);
    const GpuMatrix gsrc = Matrix(m, 320, /*pad=*/7, /*offset=*/3, &src);
    const GpuMatrix gdst = Matrix(m, 320, /*pad=*/128, /*offset=*/64, nullptr);
    gpu_->Copy(gdst.view, gsrc.view);
    bool pads_intact = false;
    EXPECT_TRUE(Identical(Read(gdst, &pads_intact), src, "bf16 Copy"));
    EXPECT_TRUE(pads_intact);
    // F32 lse columns (a few heads out of a wider row) into a contiguous block and back.
    const std::vector<float> lse = RandomBf16(m * 3, rng_, -10.0f, 10.0f);
    const GpuMatrix glse = MatrixOf(DType::kF32, m, 3, /*pad=*/5, /*offset=*/2, &lse);
    const Tensor compact = NewTensor(DType::kF32, {m, 3});
    gpu_->Copy(compact, glse.view);
    EXPECT_TRUE(Identical(Download(compact), lse, "F32 Copy to contiguous"));
    const GpuMatrix back = MatrixOf(DType::kF32, m, 3, /*pad=*/4, /*offset=*/1, nullptr);
    gpu_->Copy(back.view, compact);
    EXPECT_TRUE(Identical(Read(back, &pads_intact), lse, "F32 Copy to strided"));
    EXPECT_TRUE(pads_intact);
  }
}

// ---- CombineAttention ----

TEST_F(CudaBackendTest, CombineAttentionWithMinusInfinityPartials) {
  struct Case {
    int64_t sources, tokens, heads, d;
  };
  for (const Case c : {Case{3, 7, 5, 64}, Case{2, 130, 3, 128}, Case{1, 1, 2, 16},
                       Case{4, 33, 8, 128}}) {
    SCOPED_TRACE(::testing::Message() << "S " << c.sources << ", T " << c.tokens << ", n "
                                      << c.heads << ", D " << c.d);
    const int64_t width = c.heads * c.d;
    std::vector<float> partials = RandomBf16(c.sources * c.tokens * width, rng_);
    std::vector<float> lse = RandomBf16(c.sources * c.tokens * c.heads, rng_, -4.0f, 4.0f);
    auto at = [&](int64_t s, int64_t t, int64_t h) -> float& {
      return lse[static_cast<size_t>((s * c.tokens + t) * c.heads + h)];
    };
    for (int64_t s = 0; s < c.sources; ++s) at(s, 0, 0) = -kInf;  // no keys anywhere
    if (c.heads > 1) at(0, 0, 1) = -kInf;                         // one source without keys
    if (c.tokens > 1) at(c.sources - 1, 1, 0) = 80.0f;             // one source dominates
    if (c.tokens > 2 && c.sources > 1) at(1, 2, c.heads - 1) = -60.0f;
    std::vector<float> want(c.tokens * width, kNaN);
    cpu_->CombineAttention(HostF32(partials, {c.sources, c.tokens, width}),
                           HostF32(lse, {c.sources, c.tokens, c.heads}),
                           HostF32(want, {c.tokens, width}));
    const GpuMatrix out = Matrix(c.tokens, width, /*pad=*/c.d, /*offset=*/c.d, nullptr);
    gpu_->CombineAttention(Upload(partials, {c.sources, c.tokens, width}),
                           UploadRaw(lse, DType::kF32, {c.sources, c.tokens, c.heads}), out.view);
    bool pads_intact = false;
    const std::vector<float> got = Read(out, &pads_intact);
    EXPECT_TRUE(Close(got, want, "CombineAttention"));
    EXPECT_TRUE(pads_intact);
    for (int64_t i = 0; i < c.d; ++i) {
      ASSERT_EQ(got[static_cast<size_t>(i)], 0.0f) << "all sources -inf: zeros, element " << i;
    }
  }
}

// ---- SampleRows and TopCandidates ----

// The valid column counts a sampling case sweeps for `cols`: none, some, all.
std::vector<int64_t> ValidCounts(int64_t cols) {
  std::vector<int64_t> counts = {0};
  if (cols > 1) counts.push_back(cols - cols / 3);
  counts.push_back(cols);
  return counts;
}

// Row-major logits [rows, cols] that break reductions and selections. Row r follows pattern
// (r + salt) % 5: random in [-8, 8) with a tie at the top (columns 1 and 2); random with every
// 5th column -inf; a coarse grid (many equal values, zeros of both signs); -inf but for three
// columns; all -inf. Columns past `valid` hold 1000, which would win if read.
std::vector<float> SamplingLogits(int64_t rows, int64_t cols, int64_t valid, int salt,
                                  std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-8.0f, 8.0f);
  std::vector<float> logits(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    float* row = logits.data() + r * cols;
    const int pattern = static_cast<int>((r + salt) % 5);
    for (int64_t c = 0; c < cols; ++c) {
      const float x = dist(rng);
      switch (pattern) {
        case 0: row[c] = x; break;
        case 1: row[c] = c % 5 == 4 ? -kInf : x; break;
        case 2: row[c] = std::round(x * 2.0f) / 2.0f; break;
        case 3: row[c] = c % (cols / 3 + 1) == 1 ? x : -kInf; break;
        default: row[c] = -kInf; break;
      }
      if (pattern == 2 && row[c] == 0.0f && c % 2 == 1) row[c] = -0.0f;
    }
    if (pattern == 0 && valid > 2) row[1] = row[2] = 100.0f;
    for (int64_t c = valid; c < cols; ++c) row[c] = 1000.0f;
  }
  return logits;
}

// Asserts that SampleRows' [rows, 4] results agree: winner logits and ids exactly, log-sum-exps
// within 1e-4 relative (-inf exactly). NaN (an unwritten element) never agrees.
::testing::AssertionResult SamePicks(const std::vector<float>& got,
                                     const std::vector<float>& want) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "size " << got.size();
  for (size_t i = 0; i < got.size(); ++i) {
    const bool exact = i % 4 < 2 || std::isinf(want[i]);
    const bool ok = exact ? got[i] == want[i]
                          : std::abs(got[i] - want[i]) <= 1e-4f * std::abs(want[i]) + 1e-4f;
    if (!ok) {
      return ::testing::AssertionFailure() << "row " << i / 4 << " element " << i % 4 << " is "
                                           << got[i] << ", want " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

TEST_F(CudaBackendTest, SampleRowsEqualsTheCpu) {
  constexpr float kTemperatures[] = {0.0f, 0.7f, 1.0f, 1.5f};
  int salt = 0;
  for (int64_t rows : {1, 3, 7}) {
    for (int64_t cols : {1, 17, 4099, 128256}) {
      for (int64_t valid : ValidCounts(cols)) {
        ++salt;
        SCOPED_TRACE(::testing::Message() << rows << " x " << cols << ", " << valid << " valid");
        std::vector<float> logits = SamplingLogits(rows, cols, valid, salt, rng_);
        // Seeds below and above 2^63, steps small and huge, every temperature across the rows.
        std::vector<int64_t> races(static_cast<size_t>(2 * rows));
        std::vector<float> temperatures(static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) {
          const uint64_t seed =
              r % 2 == 0 ? 1000u * salt + r : 0xF00DF00D00000000ull + 7919u * salt + r;
          const uint64_t step = r % 3 == 2 ? 0x8000000000000001ull + salt : 5u * salt + r;
          races[2 * r] = static_cast<int64_t>(seed);
          races[2 * r + 1] = static_cast<int64_t>(step);
          temperatures[r] = kTemperatures[(r + salt) % 4];
        }
        const int64_t id_offset = salt % 2 == 0 ? 0 : 151000;
        std::vector<float> want(static_cast<size_t>(rows * 4), kNaN);
        cpu_->SampleRows(HostF32(logits, {rows, cols}), valid, id_offset,
                         Tensor(races.data(), DType::kI64, {rows, 2}),
                         HostF32(temperatures, {rows}), HostF32(want, {rows, 4}));
        const Tensor device_races = UploadRaw(races, DType::kI64, {rows, 2});
        const Tensor device_temperatures = UploadRaw(temperatures, DType::kF32, {rows});
        for (bool strided : {false, true}) {
          SCOPED_TRACE(strided ? "strided rows" : "contiguous");
          // Contiguous, or a misaligned column view of a wider buffer with NaN pads.
          const GpuMatrix in = MatrixOf(DType::kF32, rows, cols, /*pad=*/strided ? 5 : 0,
                                        /*offset=*/strided ? 3 : 0, &logits);
          const Tensor out = NewTensor(DType::kF32, {rows, 4});
          gpu_->SampleRows(in.view, valid, id_offset, device_races, device_temperatures, out);
          EXPECT_TRUE(SamePicks(Download(out), want));
        }
      }
    }
  }
}

TEST_F(CudaBackendTest, TopCandidatesEqualsTheCpu) {
  int salt = 0;
  for (int64_t rows : {1, 3, 7}) {
    for (int64_t cols : {1, 17, 4099, 128256}) {
      for (int64_t valid : ValidCounts(cols)) {
        ++salt;
        std::vector<float> logits = SamplingLogits(rows, cols, valid, salt, rng_);
        const int64_t id_offset = salt % 2 == 0 ? 0 : 151000;
        const GpuMatrix contiguous = MatrixOf(DType::kF32, rows, cols, 0, 0, &logits);
        const GpuMatrix strided =
            MatrixOf(DType::kF32, rows, cols, /*pad=*/5, /*offset=*/3, &logits);
        for (int64_t k : {1, 5, 64, 1024}) {
          SCOPED_TRACE(::testing::Message() << rows << " x " << cols << ", " << valid
                                            << " valid, k " << k);
          std::vector<float> want(static_cast<size_t>(rows * 2 * k), kNaN);
          cpu_->TopCandidates(HostF32(logits, {rows, cols}), valid, id_offset,
                              HostF32(want, {rows, 2 * k}));
          for (const GpuMatrix* in : {&contiguous, &strided}) {
            const Tensor out = NewTensor(DType::kF32, {rows, 2 * k});
            gpu_->TopCandidates(in->view, valid, id_offset, out);
            EXPECT_TRUE(Identical(Download(out), want, in == &strided ? "strided" : "contiguous"));
          }
        }
      }
    }
  }
}

// Asserts that two vectors hold the same floats bit for bit (-0.0 differs from +0.0).
::testing::AssertionResult BitIdentical(const std::vector<float>& got,
                                        const std::vector<float>& want, const std::string& what) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << what << ": " << got.size() << " elements, want " << want.size();
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(want[i])) {
      return ::testing::AssertionFailure()
             << what << ": element " << i << " is " << got[i] << ", want " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

TEST_F(CudaBackendTest, PenalizeLogitsEqualsTheCpu) {
  // Each row's (repetition, frequency, presence), cycled over the rows.
  constexpr float kPenalties[][3] = {{1.0f, 0.5f, 0.7f},    {1.3f, -0.25f, 0.0f},
                                     {0.8f, 0.1f, -0.3f},   {1.3f, 0.0f, 1.5f},
                                     {0.8f, -1.0f, -0.75f}, {1.0f, 0.0f, 0.0f}};
  constexpr int32_t kCounts[] = {-1, 0, 1, 2, 7, 0, 3};
  std::uniform_real_distribution<float> dist(-8.0f, 8.0f);
  int salt = 0;
  for (int64_t rows : {1, 5}) {
    for (int64_t cols : {17, 4099}) {
      const int64_t valid = cols - cols / 3;
      for (int64_t id_offset : {0, 1000}) {
        ++salt;
        SCOPED_TRACE(::testing::Message() << rows << " x " << cols << ", " << valid
                                          << " valid, id_offset " << id_offset);
        // Positive, negative and zero logits (both signs); columns past `valid` hold 1000.
        std::vector<float> logits(static_cast<size_t>(rows * cols));
        for (int64_t i = 0; i < rows * cols; ++i) {
          const int64_t c = i % cols;
          float x = dist(rng_);
          if (c % 7 == 3) x = 0.0f;
          if (c % 7 == 5) x = -0.0f;
          logits[static_cast<size_t>(i)] = c < valid ? x : 1000.0f;
        }
        std::vector<float> penalties(static_cast<size_t>(rows * 3));
        for (int64_t r = 0; r < rows; ++r) {
          for (int j = 0; j < 3; ++j) {
            penalties[static_cast<size_t>(3 * r + j)] = kPenalties[(r + salt) % 6][j];
          }
        }
        // Distinct (row, id) entries: most columns of the shard, and ids of other shards (below
        // id_offset, past the valid columns, past the columns) that must be left alone. Rows are
        // interleaved so that the entries of one row are not contiguous.
        std::vector<int32_t> entries;
        int k = salt;
        for (int64_t c = -3; c < cols + 4; ++c) {
          for (int64_t r = 0; r < rows; ++r) {
            if ((c + r) % 4 == 3) continue;  // some columns get no entry
            const int64_t id = id_offset + c;
            if (id < 0) continue;
            entries.push_back(static_cast<int32_t>(r));
            entries.push_back(static_cast<int32_t>(id));
            entries.push_back(kCounts[k++ % 7]);
          }
        }
        const int64_t num_entries = static_cast<int64_t>(entries.size() / 3);
        std::vector<float> want = logits;
        cpu_->PenalizeLogits(HostF32(want, {rows, cols}), valid, id_offset,
                             Tensor(entries.data(), DType::kI32, {num_entries, 3}),
                             HostF32(penalties, {rows, 3}));
        const Tensor device_entries = UploadRaw(entries, DType::kI32, {num_entries, 3});
        const Tensor device_penalties = UploadRaw(penalties, DType::kF32, {rows, 3});
        for (bool strided : {false, true}) {
          SCOPED_TRACE(strided ? "strided rows" : "contiguous");
          const GpuMatrix in = MatrixOf(DType::kF32, rows, cols, /*pad=*/strided ? 5 : 0,
                                        /*offset=*/strided ? 3 : 0, &logits);
          // No entries: nothing changes (a [0, 3] tensor without data).
          gpu_->PenalizeLogits(in.view, valid, id_offset,
                               Tensor(nullptr, DType::kI32, {0, 3}, Device::kCuda),
                               device_penalties);
          EXPECT_TRUE(BitIdentical(Read(in), logits, "no entries"));
          gpu_->PenalizeLogits(in.view, valid, id_offset, device_entries, device_penalties);
          bool pads_intact = false;
          EXPECT_TRUE(BitIdentical(Read(in, &pads_intact), want, "penalized"));
          EXPECT_TRUE(pads_intact);
        }
      }
    }
  }
}

// ---- KeyHistogram and MaskLogits ----

// Row-major logits [rows, cols] for the top-p search: uniform in [-8, 8) rounded to 1/8 (equal
// logits are common), every 7th column -inf, every 13th a zero (negative in every other one),
// row 2 of every 4 all -inf. Columns past `valid` hold 1000, which would swamp a mass if read.
std::vector<float> NucleusLogits(int64_t rows, int64_t cols, int64_t valid, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-8.0f, 8.0f);
  std::vector<float> logits(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float x = std::round(dist(rng) * 8.0f) / 8.0f;
      if (c % 13 == 6) x = (c / 13) % 2 == 0 ? 0.0f : -0.0f;
      if (c % 7 == 3 || r % 4 == 2) x = -kInf;
      logits[static_cast<size_t>(r * cols + c)] = c < valid ? x : 1000.0f;
    }
  }
  return logits;
}

// A random column of row r among [0, valid) whose logit passes `wanted`; -1 when none does.
template <typename Wanted>
int64_t RandomColumn(const std::vector<float>& logits, int64_t cols, int64_t valid, int64_t r,
                     Wanted wanted, std::mt19937& rng) {
  std::vector<int64_t> columns;
  for (int64_t c = 0; c < valid; ++c) {
    if (wanted(logits[static_cast<size_t>(r * cols + c)])) columns.push_back(c);
  }
  if (columns.empty()) return -1;
  std::uniform_int_distribution<size_t> pick(0, columns.size() - 1);
  return columns[pick(rng)];
}

bool IsFinite(float x) { return x != -kInf; }  // no other non-finite logits here
bool IsZero(float x) { return x == 0.0f; }

uint64_t RandomBits(std::mt19937& rng) {
  const uint64_t high = rng();
  return high << 32 | rng();
}

// The shifts a KeyHistogram sweep gives its rows in turn: every digit, then a skipped row.
constexpr int64_t kHistogramShifts[] = {56, 48, 40, 32, 24, 16, 8, 0, -1};

// Asserts that KeyHistogram's [rows, 512] results agree: counts exactly, masses within 1e-5
// relative (plus a tiny absolute slack). NaN (an unwritten element) never agrees.
::testing::AssertionResult SameHistograms(const std::vector<float>& got,
                                          const std::vector<float>& want) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "size " << got.size();
  for (size_t i = 0; i < got.size(); ++i) {
    const size_t bin = i % 512;
    const bool ok = bin < 256 ? got[i] == want[i]
                              : std::abs(got[i] - want[i]) <= 1e-5f * std::abs(want[i]) + 1e-30f;
    if (!ok) {
      return ::testing::AssertionFailure()
             << "row " << i / 512 << (bin < 256 ? " count" : " mass") << " of digit " << bin % 256
             << " is " << got[i] << ", want " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

TEST_F(CudaBackendTest, KeyHistogramEqualsTheCpu) {
  constexpr float kTemperatures[] = {1.0f, 0.7f, 1.5f};
  constexpr int kRounds = std::size(kHistogramShifts);
  int salt = 0;
  for (int64_t rows : {1, 3, 7}) {
    for (int64_t cols : {1, 37, 1237, 5000}) {
      for (int64_t valid : ValidCounts(cols)) {
        ++salt;
        std::vector<float> logits = NucleusLogits(rows, cols, valid, rng_);
        const int64_t id_offset = salt % 2 == 0 ? 0 : 151000;
        const GpuMatrix contiguous = MatrixOf(DType::kF32, rows, cols, 0, 0, &logits);
        const GpuMatrix strided =
            MatrixOf(DType::kF32, rows, cols, /*pad=*/5, /*offset=*/3, &logits);
        const Tensor out = NewTensor(DType::kF32, {rows, 512});
        for (int round = 0; round < kRounds; ++round) {
          SCOPED_TRACE(::testing::Message() << rows << " x " << cols << ", " << valid
                                            << " valid, round " << round);
          // Row r's shift is the round's, rotated by r. Its prefix agrees above the digit with
          // the key of one of its columns and is random below (bits the filter must ignore);
          // m is the row's largest valid logit.
          std::vector<int64_t> queries(static_cast<size_t>(2 * rows));
          std::vector<float> scales(static_cast<size_t>(2 * rows));
          std::vector<bool> filled(static_cast<size_t>(rows), false);
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t shift = kHistogramShifts[(round + r) % kRounds];
            const float* row = logits.data() + r * cols;
            const int64_t c = RandomColumn(logits, cols, valid, r, IsFinite, rng_);
            uint64_t prefix = RandomBits(rng_);
            if (c >= 0 && shift >= 0 && shift < 56) {
              const uint64_t below = (uint64_t{1} << (shift + 8)) - 1;
              const uint64_t key = RankKey(row[c], id_offset + c);
              prefix = (key & ~below) | (prefix & below);
            }
            const float m = c >= 0 ? *std::max_element(row, row + valid) : 0.0f;
            queries[static_cast<size_t>(2 * r)] = static_cast<int64_t>(prefix);
            queries[static_cast<size_t>(2 * r + 1)] = shift;
            scales[static_cast<size_t>(2 * r)] = m;
            scales[static_cast<size_t>(2 * r + 1)] = kTemperatures[(round + r + salt) % 3];
            filled[static_cast<size_t>(r)] = c >= 0 && shift >= 0;
          }
          std::vector<float> want(static_cast<size_t>(rows * 512), kNaN);
          cpu_->KeyHistogram(HostF32(logits, {rows, cols}), valid, id_offset,
                             Tensor(queries.data(), DType::kI64, {rows, 2}),
                             HostF32(scales, {rows, 2}), HostF32(want, {rows, 512}));
          for (int64_t r = 0; r < rows; ++r) {  // the sweep tests something
            const float* counts = want.data() + 512 * r;
            const float total = std::accumulate(counts, counts + 256, 0.0f);
            EXPECT_EQ(total > 0.0f, filled[static_cast<size_t>(r)]) << "row " << r;
          }
          const Tensor device_queries = UploadRaw(queries, DType::kI64, {rows, 2});
          const Tensor device_scales = UploadRaw(scales, DType::kF32, {rows, 2});
          for (const GpuMatrix* in : {&contiguous, &strided}) {
            Poison(out);
            gpu_->KeyHistogram(in->view, valid, id_offset, device_queries, device_scales, out);
            EXPECT_TRUE(SameHistograms(Download(out), want))
                << (in == &strided ? "strided" : "contiguous");
          }
        }
      }
    }
  }
}

TEST_F(CudaBackendTest, MaskLogitsEqualsTheCpu) {
  int salt = 0;
  for (int64_t rows : {1, 3, 7}) {
    for (int64_t cols : {1, 37, 1237, 5000}) {
      for (int64_t valid : ValidCounts(cols)) {
        ++salt;
        std::vector<float> logits = NucleusLogits(rows, cols, valid, rng_);
        const int64_t id_offset = salt % 2 == 0 ? 0 : 151000;
        for (int round = 0; round < 4; ++round) {
          SCOPED_TRACE(::testing::Message() << rows << " x " << cols << ", " << valid
                                            << " valid, round " << round);
          // Row r's threshold, by (round + r) % 4: the key of a finite column, the key of a zero
          // (ties of -0 and +0 around it), 0 (keeps all), all ones (masks every valid column).
          std::vector<int64_t> thresholds(static_cast<size_t>(rows));
          for (int64_t r = 0; r < rows; ++r) {
            const int kind = (round + static_cast<int>(r)) % 4;
            int64_t c = RandomColumn(logits, cols, valid, r, kind == 1 ? IsZero : IsFinite, rng_);
            if (c < 0 && valid > 0) c = 0;  // the key of a -inf column
            uint64_t threshold = c >= 0 ? RankKey(logits[static_cast<size_t>(r * cols + c)],
                                                  id_offset + c)
                                        : RandomBits(rng_);
            if (kind == 2) threshold = 0;
            if (kind == 3) threshold = ~uint64_t{0};
            thresholds[static_cast<size_t>(r)] = static_cast<int64_t>(threshold);
          }
          std::vector<float> want = logits;
          cpu_->MaskLogits(HostF32(want, {rows, cols}), valid, id_offset,
                           Tensor(thresholds.data(), DType::kI64, {rows}));
          const Tensor device_thresholds = UploadRaw(thresholds, DType::kI64, {rows});
          for (bool strided : {false, true}) {
            SCOPED_TRACE(strided ? "strided rows" : "contiguous");
            const GpuMatrix in = MatrixOf(DType::kF32, rows, cols, /*pad=*/strided ? 5 : 0,
                                          /*offset=*/strided ? 3 : 0, &logits);
            gpu_->MaskLogits(in.view, valid, id_offset, device_thresholds);
            bool pads_intact = false;
            EXPECT_TRUE(BitIdentical(Read(in, &pads_intact), want, "masked"));
            EXPECT_TRUE(pads_intact);
          }
        }
      }
    }
  }
}

// ---- FillRandom ----

TEST_F(CudaBackendTest, FillRandomEqualsTheCpuUpToBf16Rounding) {
  struct Case {
    std::vector<int64_t> shape;
    uint64_t seed;
    float scale;
  };
  for (const Case& c : {Case{{7, 333}, 12345, 0.02f}, Case{{1}, 0, 1.0f},
                        Case{{130, 4096}, 0xDEADBEEFCAFEull, 3.5f}}) {
    SCOPED_TRACE(::testing::Message() << "seed " << c.seed);
    const Tensor t = NewTensor(act(), c.shape);
    gpu_->FillRandom(t, c.seed, c.scale);
    const std::vector<float> got = Download(t);
    for (size_t i = 0; i < got.size(); ++i) {
      const float exact = RandomFillValue(c.seed, i, c.scale);
      const float want = act() == DType::kBF16 ? RoundBf16(exact) : exact;
      ASSERT_EQ(got[i], want) << "element " << i << " (the CPU's " << exact << ")";
      ASSERT_LE(std::abs(got[i]), RoundBf16(c.scale));
    }
  }
}

// ---- WriteKv, CopyBlocks ----

// A KV cache [num_blocks, block_size, n_kv, D] on both backends with the same random contents.
struct Caches {
  int64_t num_blocks, block_size, n_kv, d;
  std::vector<float> k, v;  // the CPU's cache
  Tensor gpu_k, gpu_v;

  KvLayer cpu() {
    return KvLayer{Tensor(k.data(), DType::kF32, {num_blocks, block_size, n_kv, d}),
                   Tensor(v.data(), DType::kF32, {num_blocks, block_size, n_kv, d})};
  }
  KvLayer gpu() const { return KvLayer{gpu_k, gpu_v}; }
};

class KvCacheTest : public GpuTest {
 protected:
  Caches MakeCaches(int64_t num_blocks, int64_t block_size, int64_t n_kv, int64_t d) {
    Caches c{num_blocks, block_size, n_kv, d, {}, {}, {}, {}};
    c.k = RandomBf16(num_blocks * block_size * n_kv * d, rng_);
    c.v = RandomBf16(c.k.size(), rng_);
    c.gpu_k = Upload(c.k, {num_blocks, block_size, n_kv, d});
    c.gpu_v = Upload(c.v, {num_blocks, block_size, n_kv, d});
    return c;
  }
  void ExpectSame(const Caches& c) {
    EXPECT_TRUE(Identical(Download(c.gpu_k), c.k, "K cache"));
    EXPECT_TRUE(Identical(Download(c.gpu_v), c.v, "V cache"));
  }
};

TEST_F(KvCacheTest, WriteKvHeadSlicesNegativeSlotsAndStridedRows) {
  struct Case {
    int64_t num_blocks, block_size, n_kv, d, head_offset, heads, tokens;
  };
  for (const Case c : {Case{6, 5, 4, 32, 1, 2, 9}, Case{4, 16, 8, 128, 3, 5, 33},
                       Case{40, 1, 2, 16, 0, 2, 33}, Case{3, 64, 2, 64, 1, 1, 130}}) {
    SCOPED_TRACE(::testing::Message() << "block " << c.block_size << ", n_kv " << c.n_kv
                                      << ", D " << c.d << ", heads [" << c.head_offset << ", +"
                                      << c.heads << "), T " << c.tokens);
    Caches caches = MakeCaches(c.num_blocks, c.block_size, c.n_kv, c.d);
    // Distinct slots in random order; every third token belongs to another rank.
    std::vector<int64_t> slots(static_cast<size_t>(c.num_blocks * c.block_size));
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), rng_);
    slots.resize(static_cast<size_t>(c.tokens));
    for (size_t i = 1; i < slots.size(); i += 3) slots[i] = i % 2 == 0 ? -1 : -7;
    const int64_t width = c.heads * c.d;
    std::vector<float> k = RandomBf16(c.tokens * width, rng_);
    std::vector<float> v = RandomBf16(c.tokens * width, rng_);
    cpu_->WriteKv(HostF32(k, {c.tokens, width}), HostF32(v, {c.tokens, width}),
                  Tensor(slots.data(), DType::kI64, {c.tokens}), caches.cpu(),
                  static_cast<int32_t>(c.head_offset));
    // k and v are the k and v blocks of a fused [q | k | v] row.
    const GpuMatrix gk = Matrix(c.tokens, width, /*pad=*/2 * c.d, /*offset=*/c.d, &k);
    const GpuMatrix gv = Matrix(c.tokens, width, /*pad=*/c.d, /*offset=*/c.d, &v);
    gpu_->WriteKv(gk.view, gv.view, UploadRaw(slots, DType::kI64, {c.tokens}), caches.gpu(),
                  static_cast<int32_t>(c.head_offset));
    ExpectSame(caches);
  }
}

TEST_F(KvCacheTest, CopyBlocksCopiesEveryLayer) {
  Caches a = MakeCaches(8, 5, 2, 32), b = MakeCaches(8, 5, 2, 32);
  // Sources and destinations are disjoint: the contract does not order the copies.
  const std::vector<BlockCopyOp> copies = {{0, 3}, {5, 1}, {2, 7}, {4, 6}};
  const std::vector<KvLayer> cpu_layers = {a.cpu(), b.cpu()};
  const std::vector<KvLayer> gpu_layers = {a.gpu(), b.gpu()};
  cpu_->CopyBlocks(cpu_layers, copies);
  gpu_->CopyBlocks(gpu_layers, copies);
  ExpectSame(a);
  ExpectSame(b);
  gpu_->CopyBlocks(gpu_layers, std::span<const BlockCopyOp>());
  ExpectSame(a);
}

TEST_F(KvCacheTest, CopyBlocksInOrderWithChainsAndSelfCopies) {
  // As on the CPU, copies apply in order: 0 -> 2 then 2 -> 5 moves block 0's data to 5, 4 -> 0
  // must read block 4 after 0 was read, and a self-copy changes nothing.
  Caches a = MakeCaches(7, 16, 4, 64);
  const std::vector<BlockCopyOp> copies = {{0, 2}, {2, 5}, {1, 1}, {4, 0}, {6, 3}, {3, 1}};
  const std::vector<KvLayer> cpu_layers = {a.cpu()};
  const std::vector<KvLayer> gpu_layers = {a.gpu()};
  cpu_->CopyBlocks(cpu_layers, copies);
  gpu_->CopyBlocks(gpu_layers, copies);
  ExpectSame(a);
}

// ---- empty shapes ----

TEST_F(CudaBackendTest, EmptyRowsAreNoOps) {
  const int64_t k = 64, n = 17;
  const Tensor w = Upload(RandomBf16(n * k, rng_), {n, k});
  const Tensor x0 = NewTensor(act(), {0, k});
  const Tensor out0 = NewTensor(act(), {0, n});
  gpu_->MatMul(x0, w, out0, /*accumulate=*/false);
  gpu_->MatMul(x0, w, out0, /*accumulate=*/true);
  gpu_->RmsNorm(x0, Upload(RandomBf16(k, rng_), {k}), 1e-6f, x0);
  gpu_->Add(out0, out0);
  gpu_->AddBias(out0, Upload(RandomBf16(n, rng_), {n}));
  gpu_->Copy(out0, out0);
  gpu_->SiluMul(NewTensor(act(), {0, 2 * n}), out0);
  gpu_->GatherRows(w, NewTensor(DType::kI32, {0}), NewTensor(act(), {0, k}));
  gpu_->Embedding(NewTensor(DType::kI32, {0}), w, 0, NewTensor(act(), {0, k}));
  const Tensor cache = Upload(RandomBf16(2 * 4 * 2 * 32, rng_), {2, 4, 2, 32});
  const Tensor kv0 = NewTensor(act(), {0, 64});
  gpu_->WriteKv(kv0, kv0, NewTensor(DType::kI64, {0}), KvLayer{cache, cache}, 0);
  const Tensor logits0 = NewTensor(DType::kF32, {0, n});
  gpu_->KeyHistogram(logits0, n, 0, NewTensor(DType::kI64, {0, 2}), NewTensor(DType::kF32, {0, 2}),
                     NewTensor(DType::kF32, {0, 512}));
  gpu_->MaskLogits(logits0, n, 0, NewTensor(DType::kI64, {0}));
  gpu_->Synchronize();
  // The backend still works afterwards.
  std::vector<float> x = RandomBf16(3 * k, rng_), wh = Download(w);
  const Tensor out = NewTensor(act(), {3, n});
  gpu_->MatMul(Upload(x, {3, k}), w, out, false);
  std::vector<float> want(3 * n, kNaN);
  cpu_->MatMul(HostF32(x, {3, k}), HostF32(wh, {n, k}), HostF32(want, {3, n}), false);
  EXPECT_TRUE(Close(Download(out), want, "MatMul after empty ops"));
}

}  // namespace
}  // namespace tspserve::gpu_test
