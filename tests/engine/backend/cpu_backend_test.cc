// Every CPU op except Attention (cpu_attention_test.cc) against a naive double-precision reference
// on random inputs of awkward sizes, plus the data-movement and KV-cache plumbing.
#include "engine/backend/cpu/cpu_backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <ostream>
#include <random>
#include <vector>

#include "engine/common/race_key.h"
#include "engine/common/rank_key.h"

namespace tspserve {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> Random(size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

Tensor F32(std::vector<float>& v, std::initializer_list<int64_t> shape) {
  return Tensor(v.data(), DType::kF32, shape);
}

// A [rows, cols] matrix stored inside a wider [rows, cols + pad] buffer starting at column
// `offset`, so that its rows are strided the way a column view of a fused projection is.
struct StridedMatrix {
  std::vector<float> storage;
  int64_t rows, cols, pad, offset;

  StridedMatrix(int64_t r, int64_t c, int64_t p, int64_t off, std::mt19937& rng)
      : storage(Random(static_cast<size_t>(r * (c + p)), rng)),
        rows(r),
        cols(c),
        pad(p),
        offset(off) {}
  Tensor view() {
    return Tensor(storage.data(), DType::kF32, {rows, cols + pad}).Columns(offset, offset + cols);
  }
  float& at(int64_t r, int64_t c) { return storage[r * (cols + pad) + offset + c]; }
  std::vector<float> Dense() {
    std::vector<float> d;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) d.push_back(at(r, c));
    }
    return d;
  }
};

class CpuBackendTest : public ::testing::Test {
 protected:
  // OpenBLAS runs worker threads, so death tests re-execute the binary instead of forking.
  CpuBackendTest() { GTEST_FLAG_SET(death_test_style, "threadsafe"); }

  std::unique_ptr<Backend> backend_ = MakeCpuBackend();
  std::mt19937 rng_{1234};
};

TEST_F(CpuBackendTest, Identity) {
  EXPECT_EQ(backend_->name(), "cpu");
  EXPECT_EQ(backend_->device(), Device::kCpu);
  EXPECT_EQ(backend_->compute_dtype(), DType::kF32);
  backend_->Synchronize();
}

TEST_F(CpuBackendTest, AllocateAccountsInTheOwnAllocator) {
  {
    absl::StatusOr<Buffer> buffer = backend_->Allocate(4096, MemoryKind::kKvCache);
    ASSERT_TRUE(buffer.ok());
    EXPECT_EQ(buffer->device(), Device::kCpu);
    EXPECT_EQ(backend_->allocator().stats().in_use[static_cast<int>(MemoryKind::kKvCache)], 4096);
  }
  EXPECT_EQ(backend_->allocator().stats().total_in_use, 0);
  EXPECT_EQ(backend_->allocator().stats().total_peak, 4096);
}

TEST_F(CpuBackendTest, CopiesAndFloatConversionsRoundTrip) {
  Buffer buffer = *backend_->Allocate(7 * 3 * sizeof(float), MemoryKind::kActivations);
  const Tensor t = buffer.AsTensor(DType::kF32, {7, 3});
  std::vector<float> in = Random(21, rng_);
  backend_->CopyFromHost(t, in.data());
  std::vector<float> out(21, kNaN);
  backend_->CopyToHost(out.data(), t);
  EXPECT_EQ(out, in);

  std::vector<float> in2 = Random(21, rng_);
  backend_->UploadFloat(t, in2.data());
  backend_->DownloadFloat(out.data(), t);
  EXPECT_EQ(out, in2);
  // Empty tensors copy nothing.
  backend_->CopyFromHost(t.Slice(0, 0), nullptr);
  backend_->CopyToHost(nullptr, t.Slice(3, 3));
}

// ---- MatMul ----

// out[m, n] (+)= sum_k x[m, k] * w[n, k] in double.
std::vector<double> RefMatMul(const std::vector<float>& x, const std::vector<float>& w, int64_t m,
                              int64_t n, int64_t k, const std::vector<float>* initial) {
  std::vector<double> out(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = initial != nullptr ? (*initial)[i * n + j] : 0.0;
      for (int64_t p = 0; p < k; ++p) sum += static_cast<double>(x[i * k + p]) * w[j * k + p];
      out[i * n + j] = sum;
    }
  }
  return out;
}

struct MatMulSize {
  int64_t m, n, k;
};
void PrintTo(const MatMulSize& s, std::ostream* os) {
  *os << "M " << s.m << ", N " << s.n << ", K " << s.k;
}

class MatMulTest : public CpuBackendTest, public ::testing::WithParamInterface<MatMulSize> {};

TEST_P(MatMulTest, ContiguousMatchesReference) {
  const auto [m, n, k] = GetParam();
  std::vector<float> x = Random(m * k, rng_), w = Random(n * k, rng_), out(m * n, kNaN);
  backend_->MatMul(F32(x, {m, k}), F32(w, {n, k}), F32(out, {m, n}), /*accumulate=*/false);
  const std::vector<double> ref = RefMatMul(x, w, m, n, k, nullptr);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-5 * (k + 1)) << i;
}

TEST_P(MatMulTest, StridedInputAndOutputWithAccumulate) {
  const auto [m, n, k] = GetParam();
  StridedMatrix x(m, k, /*pad=*/5, /*offset=*/3, rng_);
  StridedMatrix out(m, n, /*pad=*/7, /*offset=*/2, rng_);
  std::vector<float> w = Random(n * k, rng_);
  const std::vector<float> before = out.storage;
  const std::vector<float> initial = out.Dense();
  backend_->MatMul(x.view(), F32(w, {n, k}), out.view(), /*accumulate=*/true);
  const std::vector<double> ref = RefMatMul(x.Dense(), w, m, n, k, &initial);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) ASSERT_NEAR(out.at(i, j), ref[i * n + j], 1e-5 * (k + 1));
  }
  // Padding columns of the output are untouched.
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t c = 0; c < n + 7; ++c) {
      if (c >= 2 && c < 2 + n) continue;
      ASSERT_EQ(out.storage[i * (n + 7) + c], before[i * (n + 7) + c]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, MatMulTest,
                         ::testing::Values(MatMulSize{1, 1, 1}, MatMulSize{1, 19, 33},
                                           MatMulSize{3, 7, 5}, MatMulSize{17, 1, 64},
                                           MatMulSize{17, 19, 33}, MatMulSize{3, 130, 127}));

TEST_F(CpuBackendTest, MatMulWithEmptyInnerDimension) {
  std::vector<float> x(3), w(4), out(3 * 4, 2.0f);
  const Tensor xt(x.data(), DType::kF32, {3, 0});
  const Tensor wt(w.data(), DType::kF32, {4, 0});
  backend_->MatMul(xt, wt, F32(out, {3, 4}), /*accumulate=*/true);
  for (float v : out) EXPECT_EQ(v, 2.0f);
  backend_->MatMul(xt, wt, F32(out, {3, 4}), /*accumulate=*/false);
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

TEST_F(CpuBackendTest, MatMulEmptyRowsIsANoOp) {
  std::vector<float> x(8), w = Random(16, rng_), out(8, 5.0f);
  backend_->MatMul(Tensor(x.data(), DType::kF32, {0, 4}), F32(w, {4, 4}),
                   Tensor(out.data(), DType::kF32, {0, 4}), false);
  for (float v : out) EXPECT_EQ(v, 5.0f);
}

TEST_F(CpuBackendTest, MatMulShapeMismatchDies) {
  std::vector<float> x(12), w(12), out(12);
  EXPECT_DEATH(backend_->MatMul(F32(x, {3, 4}), F32(w, {4, 3}), F32(out, {3, 4}), false), "MatMul");
  EXPECT_DEATH(backend_->MatMul(F32(x, {3, 4}), F32(w, {3, 4}), F32(out, {4, 3}), false), "MatMul");
}

// ---- RmsNorm ----

// x * (1 / sqrt(mean(x^2) + eps)) * w over groups of w.size() columns, in double.
std::vector<double> RefRmsNorm(const std::vector<float>& x, const std::vector<float>& w,
                               int64_t rows, int64_t cols, double eps) {
  const int64_t d = static_cast<int64_t>(w.size());
  std::vector<double> out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < cols; g += d) {
      double sum = 0.0;
      for (int64_t i = 0; i < d; ++i) {
        sum += static_cast<double>(x[r * cols + g + i]) * x[r * cols + g + i];
      }
      const double inv = 1.0 / std::sqrt(sum / static_cast<double>(d) + eps);
      for (int64_t i = 0; i < d; ++i) out[r * cols + g + i] = x[r * cols + g + i] * inv * w[i];
    }
  }
  return out;
}

class RmsNormTest : public CpuBackendTest,
                    public ::testing::WithParamInterface<std::tuple<int64_t, int64_t>> {};

TEST_P(RmsNormTest, MatchesReference) {
  const auto [m, d] = GetParam();
  std::vector<float> x = Random(m * d, rng_, -3.0f, 3.0f), w = Random(d, rng_, 0.5f, 1.5f);
  std::vector<float> out(m * d, kNaN);
  backend_->RmsNorm(F32(x, {m, d}), F32(w, {d}), 1e-6f, F32(out, {m, d}));
  const std::vector<double> ref = RefRmsNorm(x, w, m, d, 1e-6);
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_NEAR(out[i], ref[i], 2e-6 * std::abs(ref[i]) + 1e-7);
  }
}

TEST_P(RmsNormTest, InPlaceOnStridedRows) {
  const auto [m, d] = GetParam();
  StridedMatrix x(m, d, /*pad=*/4, /*offset=*/4, rng_);
  std::vector<float> w = Random(d, rng_, 0.5f, 1.5f);
  const std::vector<double> ref = RefRmsNorm(x.Dense(), w, m, d, 1e-5);
  backend_->RmsNorm(x.view(), F32(w, {d}), 1e-5f, x.view());
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t c = 0; c < d; ++c) {
      ASSERT_NEAR(x.at(r, c), ref[r * d + c], 2e-6 * std::abs(ref[r * d + c]) + 1e-7);
    }
  }
}

TEST_P(RmsNormTest, AddRmsNormUpdatesResidual) {
  const auto [m, d] = GetParam();
  std::vector<float> residual = Random(m * d, rng_), x = Random(m * d, rng_);
  std::vector<float> w = Random(d, rng_, 0.5f, 1.5f);
  std::vector<float> sum(m * d);
  for (size_t i = 0; i < sum.size(); ++i) sum[i] = residual[i] + x[i];
  const std::vector<double> ref = RefRmsNorm(sum, w, m, d, 1e-6);
  // out aliases x, the common use (the layer's output becomes the next norm's input).
  backend_->AddRmsNorm(F32(residual, {m, d}), F32(x, {m, d}), F32(w, {d}), 1e-6f, F32(x, {m, d}));
  EXPECT_EQ(residual, sum);
  for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], ref[i], 2e-6 * std::abs(ref[i]) + 1e-7);
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, RmsNormTest,
                         ::testing::Combine(::testing::Values(1, 3, 17),
                                            ::testing::Values(1, 7, 33, 127)));

TEST_F(CpuBackendTest, RmsNormPerHeadGroups) {
  // Qwen3's q/k norm: x [T, n*D], one weight of D shared by every head.
  const int64_t t = 5, heads = 3, d = 16;
  StridedMatrix x(t, heads * d, /*pad=*/2 * d, /*offset=*/d, rng_);
  std::vector<float> w = Random(d, rng_, 0.5f, 1.5f), out(t * heads * d, kNaN);
  backend_->RmsNorm(x.view(), F32(w, {d}), 1e-6f, F32(out, {t, heads * d}));
  const std::vector<double> ref = RefRmsNorm(x.Dense(), w, t, heads * d, 1e-6);
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_NEAR(out[i], ref[i], 2e-6 * std::abs(ref[i]) + 1e-7);
  }
  // A zero row normalises to zero (eps keeps the division finite).
  std::vector<float> zeros(d, 0.0f);
  backend_->RmsNorm(F32(zeros, {1, d}), F32(w, {d}), 1e-6f, F32(zeros, {1, d}));
  for (float v : zeros) EXPECT_EQ(v, 0.0f);
}

TEST_F(CpuBackendTest, RmsNormWeightNotDividingWidthDies) {
  std::vector<float> x(2 * 10), w(4);
  EXPECT_DEATH(backend_->RmsNorm(F32(x, {2, 10}), F32(w, {4}), 1e-6f, F32(x, {2, 10})), "groups");
}

// ---- element-wise ----

TEST_F(CpuBackendTest, AddAndAddBiasOnStridedRows) {
  const int64_t m = 17, n = 13;
  StridedMatrix a(m, n, 3, 1, rng_);
  StridedMatrix b(m, n, 6, 6, rng_);
  std::vector<float> bias = Random(n, rng_);
  const std::vector<float> a0 = a.Dense(), b0 = b.Dense();
  backend_->Add(a.view(), b.view());
  backend_->AddBias(a.view(), F32(bias, {n}));
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      ASSERT_FLOAT_EQ(a.at(r, c), (a0[r * n + c] + b0[r * n + c]) + bias[c]);
    }
  }
  EXPECT_EQ(b.Dense(), b0);
}

TEST_F(CpuBackendTest, SiluMulMatchesReferenceAndSaturates) {
  const int64_t m = 3, inter = 11;
  std::vector<float> gate_up = Random(m * 2 * inter, rng_, -6.0f, 6.0f);
  gate_up[0] = -200.0f;  // exp(200) overflows float: silu must still be -0, not NaN
  gate_up[1] = 200.0f;
  std::vector<float> out(m * inter, kNaN);
  backend_->SiluMul(F32(gate_up, {m, 2 * inter}), F32(out, {m, inter}));
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t i = 0; i < inter; ++i) {
      const double g = gate_up[r * 2 * inter + i], u = gate_up[r * 2 * inter + inter + i];
      const double ref = g / (1.0 + std::exp(-g)) * u;
      ASSERT_NEAR(out[r * inter + i], ref, 1e-6 * std::abs(ref) + 1e-7) << r << "," << i;
    }
  }
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_FLOAT_EQ(out[1], 200.0f * gate_up[inter + 1]);
}

TEST_F(CpuBackendTest, SiluMulShapeMismatchDies) {
  std::vector<float> gate_up(2 * 8), out(2 * 5);
  EXPECT_DEATH(backend_->SiluMul(F32(gate_up, {2, 8}), F32(out, {2, 5})), "SiluMul");
}

// ---- Rope ----

class RopeTest : public CpuBackendTest, public ::testing::WithParamInterface<int32_t> {};

TEST_P(RopeTest, RotateHalfMatchesReference) {
  const int32_t d = GetParam();
  const int64_t t = 7, heads = 3, max_pos = 50;
  // A table of Llama frequencies: cos in the first d/2 columns, sin in the last d/2.
  std::vector<float> table(max_pos * d);
  for (int64_t p = 0; p < max_pos; ++p) {
    for (int32_t i = 0; i < d / 2; ++i) {
      const double angle = p * std::pow(10000.0, -2.0 * i / d);
      table[p * d + i] = static_cast<float>(std::cos(angle));
      table[p * d + d / 2 + i] = static_cast<float>(std::sin(angle));
    }
  }
  std::vector<int32_t> positions = {0, 49, 3, 3, 17, 1, 48};
  StridedMatrix x(t, heads * d, /*pad=*/d, /*offset=*/0, rng_);  // q inside a fused [q | k] row
  const std::vector<float> x0 = x.Dense();
  const std::vector<float> pad_before(x.storage);
  backend_->Rope(x.view(), d, Tensor(positions.data(), DType::kI32, {t}), F32(table, {max_pos, d}));
  for (int64_t r = 0; r < t; ++r) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int32_t i = 0; i < d; ++i) {
        const int32_t j = i < d / 2 ? i : i - d / 2;
        const double c = table[positions[r] * d + j], s = table[positions[r] * d + d / 2 + j];
        const double x1 = x0[r * heads * d + h * d + j], x2 = x0[r * heads * d + h * d + d / 2 + j];
        const double ref = i < d / 2 ? x1 * c - x2 * s : x2 * c + x1 * s;
        ASSERT_NEAR(x.at(r, h * d + i), ref, 1e-6) << r << "," << h << "," << i;
      }
    }
    // Position 0 is the identity.
    if (positions[r] == 0) {
      for (int64_t c = 0; c < heads * d; ++c) EXPECT_EQ(x.at(r, c), x0[r * heads * d + c]);
    }
    for (int64_t c = heads * d; c < heads * d + d; ++c) {
      ASSERT_EQ(x.storage[r * (heads + 1) * d + c], pad_before[r * (heads + 1) * d + c]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(HeadDims, RopeTest, ::testing::Values(2, 8, 16, 48));

TEST_F(CpuBackendTest, RopePositionOutsideTableDies) {
  std::vector<float> x(8), table(4 * 8);
  std::vector<int32_t> pos = {4};
  EXPECT_DEATH(
      backend_->Rope(F32(x, {1, 8}), 8, Tensor(pos.data(), DType::kI32, {1}), F32(table, {4, 8})),
      "position");
}

// ---- Embedding, GatherRows ----

TEST_F(CpuBackendTest, EmbeddingZeroesIdsOfOtherShards) {
  const int64_t rows = 7, hidden = 13, begin = 10;
  std::vector<float> table = Random(rows * hidden, rng_);
  std::vector<int32_t> ids = {10, 9, 16, 17, -1, 12, 2147483647, 10};
  const int64_t t = static_cast<int64_t>(ids.size());
  std::vector<float> out(t * hidden, kNaN);
  backend_->Embedding(Tensor(ids.data(), DType::kI32, {t}), F32(table, {rows, hidden}), begin,
                      F32(out, {t, hidden}));
  for (int64_t r = 0; r < t; ++r) {
    const bool mine = ids[r] >= begin && ids[r] < begin + rows;
    for (int64_t c = 0; c < hidden; ++c) {
      const float want = mine ? table[(ids[r] - begin) * hidden + c] : 0.0f;
      ASSERT_EQ(out[r * hidden + c], want) << "row " << r;
    }
  }
}

TEST_F(CpuBackendTest, GatherRowsWithRepeats) {
  const int64_t t = 9, hidden = 5;
  StridedMatrix x(t, hidden, 2, 1, rng_);
  std::vector<int32_t> rows = {8, 0, 8, 4};
  std::vector<float> out(4 * hidden, kNaN);
  backend_->GatherRows(x.view(), Tensor(rows.data(), DType::kI32, {4}), F32(out, {4, hidden}));
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t c = 0; c < hidden; ++c) ASSERT_EQ(out[i * hidden + c], x.at(rows[i], c));
  }
  backend_->GatherRows(x.view(), Tensor(rows.data(), DType::kI32, {0}), F32(out, {0, hidden}));
  std::vector<int32_t> bad = {9};
  EXPECT_DEATH(
      backend_->GatherRows(x.view(), Tensor(bad.data(), DType::kI32, {1}), F32(out, {1, hidden})),
      "GatherRows row 9");
}

// ---- WriteKv, CopyBlocks ----

// A KV cache [num_blocks, block_size, n_kv, D] whose every element starts as a sentinel.
struct TestCache {
  int64_t num_blocks, block_size, n_kv, d;
  std::vector<float> k, v;

  TestCache(int64_t nb, int64_t bs, int64_t h, int64_t dim)
      : num_blocks(nb),
        block_size(bs),
        n_kv(h),
        d(dim),
        k(nb * bs * h * dim, -7.0f),
        v(nb * bs * h * dim, -9.0f) {}
  KvLayer layer() {
    return KvLayer{Tensor(k.data(), DType::kF32, {num_blocks, block_size, n_kv, d}),
                   Tensor(v.data(), DType::kF32, {num_blocks, block_size, n_kv, d})};
  }
  size_t index(int64_t slot, int64_t head, int64_t i) const {
    return static_cast<size_t>((slot * n_kv + head) * d + i);
  }
};

TEST_F(CpuBackendTest, WriteKvPlacesRowsInSlotsAndSkipsNegative) {
  TestCache cache(/*nb=*/3, /*bs=*/5, /*n_kv=*/2, /*d=*/6);
  const int64_t t = 4, width = 2 * 6;
  StridedMatrix k(t, width, /*pad=*/width, /*offset=*/0, rng_);  // [k | v] of a fused projection
  StridedMatrix v(t, width, /*pad=*/width, /*offset=*/width, rng_);
  std::vector<int64_t> slots = {14, -1, 0, 7};
  backend_->WriteKv(k.view(), v.view(), Tensor(slots.data(), DType::kI64, {t}), cache.layer(), 0);
  std::vector<bool> written(15, false);
  for (int64_t r = 0; r < t; ++r) {
    if (slots[r] < 0) continue;
    written[slots[r]] = true;
    for (int64_t c = 0; c < width; ++c) {
      ASSERT_EQ(cache.k[cache.index(slots[r], 0, c)], k.at(r, c));
      ASSERT_EQ(cache.v[cache.index(slots[r], 0, c)], v.at(r, c));
    }
  }
  for (int64_t s = 0; s < 15; ++s) {
    if (written[s]) continue;
    for (int64_t c = 0; c < width; ++c) ASSERT_EQ(cache.k[cache.index(s, 0, c)], -7.0f) << s;
  }
}

TEST_F(CpuBackendTest, WriteKvHeadSliceLeavesOtherHeads) {
  TestCache cache(/*nb=*/2, /*bs=*/3, /*n_kv=*/4, /*d=*/8);
  const int64_t t = 2, heads = 2;
  std::vector<float> k = Random(t * heads * 8, rng_), v = Random(t * heads * 8, rng_);
  std::vector<int64_t> slots = {5, 1};
  backend_->WriteKv(F32(k, {t, heads * 8}), F32(v, {t, heads * 8}),
                    Tensor(slots.data(), DType::kI64, {t}), cache.layer(), /*kv_head_offset=*/1);
  for (int64_t r = 0; r < t; ++r) {
    for (int64_t h = 0; h < 4; ++h) {
      for (int64_t i = 0; i < 8; ++i) {
        const bool in_slice = h >= 1 && h < 3;
        const float want_k = in_slice ? k[(r * heads + h - 1) * 8 + i] : -7.0f;
        const float want_v = in_slice ? v[(r * heads + h - 1) * 8 + i] : -9.0f;
        ASSERT_EQ(cache.k[cache.index(slots[r], h, i)], want_k);
        ASSERT_EQ(cache.v[cache.index(slots[r], h, i)], want_v);
      }
    }
  }
  EXPECT_DEATH(backend_->WriteKv(F32(k, {t, heads * 8}), F32(v, {t, heads * 8}),
                                 Tensor(slots.data(), DType::kI64, {t}), cache.layer(), 3),
               "WriteKv");
}

TEST_F(CpuBackendTest, WriteKvSlotOutOfRangeDies) {
  TestCache cache(2, 4, 1, 4);
  std::vector<float> k(4), v(4);
  std::vector<int64_t> slots = {8};
  EXPECT_DEATH(backend_->WriteKv(F32(k, {1, 4}), F32(v, {1, 4}),
                                 Tensor(slots.data(), DType::kI64, {1}), cache.layer(), 0),
               "slot");
}

TEST_F(CpuBackendTest, CopyBlocksCopiesEveryLayerInOrder) {
  TestCache a(4, 3, 2, 5), b(4, 3, 2, 5);
  for (TestCache* c : {&a, &b}) {
    c->k = Random(c->k.size(), rng_);
    c->v = Random(c->v.size(), rng_);
  }
  const TestCache a0 = a, b0 = b;
  const std::vector<KvLayer> layers = {a.layer(), b.layer()};
  // 0 -> 2, then 2 -> 3 (sees the new block 2), and a self-copy.
  const std::vector<BlockCopyOp> copies = {{0, 2}, {2, 3}, {1, 1}};
  backend_->CopyBlocks(layers, copies);
  const int64_t block = 3 * 2 * 5;
  for (const auto& [now, before] : {std::pair<const TestCache*, const TestCache*>{&a, &a0},
                                    std::pair<const TestCache*, const TestCache*>{&b, &b0}}) {
    for (int64_t blk : {0, 2, 3}) {
      for (int64_t i = 0; i < block; ++i) {
        ASSERT_EQ(now->k[blk * block + i], before->k[i]);
        ASSERT_EQ(now->v[blk * block + i], before->v[i]);
      }
    }
    for (int64_t i = 0; i < block; ++i) ASSERT_EQ(now->k[block + i], before->k[block + i]);
  }
  const std::vector<BlockCopyOp> bad = {{0, 4}};
  EXPECT_DEATH(backend_->CopyBlocks(layers, bad), "CopyBlocks");
}

TEST_F(CpuBackendTest, SampleRowsAtTemperatureZeroPicksTheFirstMaximumAndTheLogSumExp) {
  // Three rows of 6 columns inside rows of 8; only the first 5 columns count.
  std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, 9.0f, kNaN, kNaN,   // tie: column 1
                               -3.0f, -2.0f, -4.0f, -2.5f, -1.0f, 9.0f, kNaN, kNaN,
                               1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 9.0f, kNaN, kNaN};
  std::vector<int64_t> races = {5, 0, 6, 1, 7, 2};
  std::vector<float> temperatures(3, 0.0f);
  std::vector<float> picks(12, kNaN);
  const Tensor view = F32(logits, {3, 8}).Columns(0, 6);
  const Tensor race_view(races.data(), DType::kI64, {3, 2});
  backend_->SampleRows(view, 5, 1000, race_view, F32(temperatures, {3}), F32(picks, {3, 4}));
  EXPECT_FLOAT_EQ(picks[0], 2.0f);
  EXPECT_EQ(picks[1], 1001.0f);
  EXPECT_NEAR(picks[2], std::log(std::exp(0.5) + 2 * std::exp(2.0) + std::exp(-1.0) + std::exp(1.0)), 1e-5);
  EXPECT_EQ(picks[3], picks[2]);
  EXPECT_EQ(picks[5], 1004.0f);
  EXPECT_EQ(picks[9], 1000.0f);  // all equal: the lowest column
  EXPECT_NEAR(picks[10], 1.0f + std::log(5.0f), 1e-5);
  std::vector<float> none(4, 0.0f);
  backend_->SampleRows(view.Slice(0, 1), 0, 0, race_view.Slice(0, 1), F32(temperatures, {3}).Slice(0, 1),
                       F32(none, {1, 4}));
  EXPECT_TRUE(std::isinf(none[0]) && none[0] < 0);
  EXPECT_EQ(none[1], -1.0f);
  EXPECT_TRUE(std::isinf(none[2]) && std::isinf(none[3]));
}

TEST_F(CpuBackendTest, SampleRowsWinsTheRaceOfTheKeys) {
  StridedMatrix logits(4, 300, 5, 2, rng_);
  for (int64_t c = 0; c < 300; c += 7) logits.storage[static_cast<size_t>(c + 2)] = -kInf;  // masked tokens
  std::vector<int64_t> races = {1, 0, 1, 1, static_cast<int64_t>(0xF00DF00DF00DF00Dull), 9, 42, 1000};
  std::vector<float> temperatures = {1.0f, 1.0f, 0.6f, 2.5f};
  std::vector<float> out(16, kNaN);
  backend_->SampleRows(logits.view(), 290, 50, Tensor(races.data(), DType::kI64, {4, 2}),
                       F32(temperatures, {4}), F32(out, {4, 4}));
  for (int64_t r = 0; r < 4; ++r) {
    const float* row = logits.storage.data() + r * 305 + 2;
    const auto seed = static_cast<uint64_t>(races[2 * r]), step = static_cast<uint64_t>(races[2 * r + 1]);
    const float t = temperatures[static_cast<size_t>(r)];
    int64_t best = 0;
    double lse = 0, scaled = 0;
    for (int64_t c = 0; c < 290; ++c) {
      if (RaceKey(row[c], t, seed, step, 50 + c) > RaceKey(row[best], t, seed, step, 50 + best)) best = c;
      lse += std::exp(static_cast<double>(row[c]));
      scaled += std::exp(static_cast<double>(row[c]) / t);
    }
    EXPECT_NE(row[best], -kInf);
    EXPECT_EQ(out[static_cast<size_t>(r * 4 + 1)], static_cast<float>(50 + best)) << "row " << r;
    EXPECT_EQ(out[static_cast<size_t>(r * 4)], row[best]);
    EXPECT_NEAR(out[static_cast<size_t>(r * 4 + 2)], std::log(lse), 1e-5);
    EXPECT_NEAR(out[static_cast<size_t>(r * 4 + 3)], std::log(scaled), 1e-5);
  }
  // Rows 0 and 1 differ only in the step: their noise, and so almost surely their winner, differs.
  EXPECT_NE(out[1], out[5]);
}

TEST_F(CpuBackendTest, TopCandidatesOrdersByLogitThenIdAndPads) {
  // Two rows of 6 valid columns inside rows of 9.
  std::vector<float> logits = {1.0f, 3.0f, -kInf, 3.0f, 0.0f, -0.0f, 7.0f, kNaN, kNaN,
                               -kInf, -kInf, 2.0f, -kInf, -1.0f, -kInf, 7.0f, kNaN, kNaN};
  const Tensor view = F32(logits, {2, 9}).Columns(0, 7);
  std::vector<float> top4(16, kNaN);
  backend_->TopCandidates(view, 6, 10, F32(top4, {2, 8}));
  const std::vector<float> want4 = {3.0f, 11.0f, 3.0f, 13.0f, 1.0f, 10.0f, 0.0f, 14.0f,
                                    2.0f, 12.0f, -1.0f, 14.0f, -kInf, 10.0f, -kInf, 11.0f};
  EXPECT_EQ(top4, want4);  // 0.0 and -0.0 are equal logits: the lower id (14) first
  std::vector<float> top8(16, kNaN);
  backend_->TopCandidates(view.Slice(0, 1), 6, 0, F32(top8, {1, 16}));
  const std::vector<float> want8 = {3.0f, 1.0f, 3.0f, 3.0f, 1.0f, 0.0f, 0.0f, 4.0f,
                                    -0.0f, 5.0f, -kInf, 2.0f, -kInf, -1.0f, -kInf, -1.0f};
  EXPECT_EQ(top8, want8);  // past the 6 valid columns: (-inf, -1)
}

TEST_F(CpuBackendTest, KeyHistogramCountsAndWeighsTheDigitsUnderAPrefix) {
  // Rows of 5 valid columns inside rows of 6; tokens 20..24.
  std::vector<float> logits = {1.0f, 1.0f, 2.0f, -kInf, 0.0f, kNaN, 1.0f, 1.0f, 2.0f, -kInf, 0.0f, kNaN};
  std::vector<int64_t> queries = {0, 56, static_cast<int64_t>(RankKey(1.0f, 21)), 0};
  std::vector<float> scales = {2.0f, 0.5f, 2.0f, 0.5f};
  std::vector<float> out(2 * 512, kNaN);
  backend_->KeyHistogram(F32(logits, {2, 6}), 5, 20,
                         Tensor(queries.data(), DType::kI64, {2, 2}), F32(scales, {2, 2}), F32(out, {2, 512}));
  // Top bytes: 1.0 -> 0xBF, 2.0 -> 0xC0, 0.0 -> 0x80; -inf counts nowhere.
  EXPECT_EQ(out[0xBF], 2.0f);
  EXPECT_EQ(out[0xC0], 1.0f);
  EXPECT_EQ(out[0x80], 1.0f);
  EXPECT_FLOAT_EQ(out[256 + 0xBF], 2.0f * std::exp(-2.0f));  // exp((1 - 2) / 0.5) each
  EXPECT_FLOAT_EQ(out[256 + 0xC0], 1.0f);
  EXPECT_FLOAT_EQ(out[256 + 0x80], std::exp(-4.0f));
  float total = 0;
  for (int b = 0; b < 256; ++b) total += out[b];
  EXPECT_EQ(total, 4.0f);
  // The lowest byte of the keys that agree with token 21's above it: tokens 20 and 21 (logit 1.0;
  // 0xFFFFFFFF - id ends in 0xEB and 0xEA).
  const std::vector<float> second(out.begin() + 512, out.end());
  EXPECT_EQ(second[0xEA], 1.0f);
  EXPECT_EQ(second[0xEB], 1.0f);
  EXPECT_EQ(std::accumulate(second.begin(), second.begin() + 256, 0.0f), 2.0f);
}

TEST_F(CpuBackendTest, MaskLogitsKeepsTheKeysFromTheThresholdUp) {
  std::vector<float> logits = {1.0f, 1.0f, 2.0f, 0.5f, 1.0f, 7.0f,
                               1.0f, 1.0f, 2.0f, 0.5f, 1.0f, 7.0f};
  std::vector<int64_t> thresholds = {static_cast<int64_t>(RankKey(1.0f, 1)), 0};
  backend_->MaskLogits(F32(logits, {2, 6}), 5, 0, Tensor(thresholds.data(), DType::kI64, {2}));
  // Row 0 keeps 2.0 and the 1.0s of ids 0 and 1 (lower ids first); the padding stays.
  const std::vector<float> want = {1.0f, 1.0f, 2.0f, -kInf, -kInf, 7.0f,
                                   1.0f, 1.0f, 2.0f, 0.5f, 1.0f, 7.0f};
  EXPECT_EQ(logits, want);
}

}  // namespace
}  // namespace tspserve
