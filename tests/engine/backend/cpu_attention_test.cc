// CPU paged attention against a dense double-precision causal attention over the same keys, for
// shuffled pages, partial pages, GQA, head offsets, several sequences, sliding windows, and the
// log-sum-exp merge of two disjoint page sets that split-KV decode relies on.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <ostream>
#include <random>
#include <vector>

#include "engine/backend/backend.h"

namespace tspserve {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> Random(size_t n, std::mt19937& rng, float amplitude = 1.0f) {
  std::uniform_real_distribution<float> dist(-amplitude, amplitude);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// One sequence of a test batch: the positions whose K/V this rank holds and the positions of its
// query rows. K and V exist for every position in [0, length) so that any subset of pages sees the
// same values.
struct Sequence {
  int32_t length = 0;
  std::vector<int32_t> key_positions;    // sorted
  std::vector<int32_t> query_positions;  // one per Q row, in row order
  std::vector<float> k, v;               // [length, n_kv * D]
};

// A run of consecutive positions stored in one cache block.
struct Page {
  int32_t first = 0;
  int32_t count = 0;
};

Sequence MakeSequence(int32_t length, std::vector<int32_t> keys, std::vector<int32_t> queries,
                      int64_t kv_width, std::mt19937& rng) {
  Sequence s;
  s.length = length;
  s.key_positions = std::move(keys);
  s.query_positions = std::move(queries);
  s.k = Random(static_cast<size_t>(length * kv_width), rng);
  s.v = Random(static_cast<size_t>(length * kv_width), rng);
  return s;
}

std::vector<int32_t> Range(int32_t begin, int32_t end) {
  std::vector<int32_t> r;
  for (int32_t p = begin; p < end; ++p) r.push_back(p);
  return r;
}

// Cuts sorted positions into pages of at most block_size consecutive positions.
std::vector<Page> Paginate(const std::vector<int32_t>& positions, int32_t block_size) {
  std::vector<Page> pages;
  for (int32_t p : positions) {
    if (pages.empty() || pages.back().count == block_size ||
        pages.back().first + pages.back().count != p) {
      pages.push_back(Page{p, 0});
    }
    ++pages.back().count;
  }
  return pages;
}

// A cache holding some pages of the test's sequences, with the metadata that describes them. Owns
// the memory its tensors view.
struct PagedBatch {
  int32_t num_blocks = 0;
  std::vector<float> k_cache, v_cache;  // [num_blocks, block_size, n_kv, D]
  std::vector<int32_t> query_start = {0}, query_positions, page_start = {0};
  std::vector<int32_t> page_slot, page_first, page_count;

  AttentionMetadata Metadata();
  KvLayer Cache(int32_t block_size, const AttentionShape& shape);
};

struct Result {
  std::vector<float> out;  // [T, n_q * D]
  std::vector<float> lse;  // [T, n_q]
};

class AttentionTest : public ::testing::Test {
 protected:
  // OpenBLAS may run worker threads, so death tests re-execute the binary instead of forking.
  AttentionTest() { GTEST_FLAG_SET(death_test_style, "threadsafe"); }

  void SetShape(int32_t num_q_heads, int32_t q_head_offset, int32_t group_size,
                int32_t num_kv_heads, int32_t head_dim, int32_t window = 0) {
    shape_.num_q_heads = num_q_heads;
    shape_.q_head_offset = q_head_offset;
    shape_.group_size = group_size;
    shape_.num_kv_heads = num_kv_heads;
    shape_.head_dim = head_dim;
    shape_.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    shape_.sliding_window = window;
  }
  int64_t kv_width() const { return int64_t{shape_.num_kv_heads} * shape_.head_dim; }
  int64_t q_width() const { return int64_t{shape_.num_q_heads} * shape_.head_dim; }
  int64_t num_tokens() const {
    int64_t t = 0;
    for (const Sequence& s : seqs_) t += static_cast<int64_t>(s.query_positions.size());
    return t;
  }
  void AddSequence(int32_t length, std::vector<int32_t> keys, std::vector<int32_t> queries) {
    seqs_.push_back(MakeSequence(length, std::move(keys), std::move(queries), kv_width(), rng_));
  }
  void MakeQueries(float amplitude = 1.0f) {
    q_ = Random(static_cast<size_t>(num_tokens() * q_width()), rng_, amplitude);
  }
  std::vector<std::vector<Page>> AllPages() const {
    std::vector<std::vector<Page>> pages;
    for (const Sequence& s : seqs_) pages.push_back(Paginate(s.key_positions, block_size_));
    return pages;
  }

  // Places `pages` (per sequence) in shuffled blocks, listed in shuffled order, in a cache whose
  // unused slots hold NaN so that any read of them poisons the output.
  PagedBatch Place(const std::vector<std::vector<Page>>& pages);

  // Runs the backend over Place(pages). q and out are column views of wider rows when `strided`.
  Result RunPaged(const std::vector<std::vector<Page>>& pages, bool strided = false,
                  bool want_lse = true);

  // Dense causal attention in double over each sequence's keys in `pages`.
  Result Reference(const std::vector<std::vector<Page>>& pages) const;

  void ExpectNear(const Result& got, const Result& want, double tol = 2e-5) const {
    ASSERT_EQ(got.out.size(), want.out.size());
    for (size_t i = 0; i < got.out.size(); ++i) {
      ASSERT_NEAR(got.out[i], want.out[i], tol) << "out element " << i;
    }
    ASSERT_EQ(got.lse.size(), want.lse.size());
    for (size_t i = 0; i < got.lse.size(); ++i) {
      if (std::isinf(want.lse[i])) {
        ASSERT_EQ(got.lse[i], -kInf) << "lse " << i;
      } else {
        ASSERT_NEAR(got.lse[i], want.lse[i], tol) << "lse " << i;
      }
    }
  }

  std::unique_ptr<Backend> backend_ = MakeCpuBackend();
  std::mt19937 rng_{42};
  AttentionShape shape_;
  int32_t block_size_ = 8;
  std::vector<Sequence> seqs_;
  std::vector<float> q_;  // [T, n_q * D]
};

PagedBatch AttentionTest::Place(const std::vector<std::vector<Page>>& pages) {
  PagedBatch b;
  int32_t total_pages = 0;
  for (const auto& p : pages) total_pages += static_cast<int32_t>(p.size());
  b.num_blocks = total_pages + 3;  // a few blocks nobody uses
  std::vector<int32_t> blocks = Range(0, b.num_blocks);
  std::shuffle(blocks.begin(), blocks.end(), rng_);
  b.k_cache.assign(b.num_blocks * block_size_ * kv_width(), kNaN);
  b.v_cache.assign(b.k_cache.size(), kNaN);
  int32_t next_block = 0;
  for (size_t s = 0; s < seqs_.size(); ++s) {
    const Sequence& seq = seqs_[s];
    for (int32_t p : seq.query_positions) b.query_positions.push_back(p);
    b.query_start.push_back(static_cast<int32_t>(b.query_positions.size()));
    std::vector<Page> order = pages[s];
    std::shuffle(order.begin(), order.end(), rng_);
    for (const Page& page : order) {
      const int32_t block = blocks[next_block++];
      for (int32_t i = 0; i < page.count; ++i) {
        const int64_t src = (page.first + i) * kv_width();
        const int64_t dst = (int64_t{block} * block_size_ + i) * kv_width();
        std::copy_n(seq.k.begin() + src, kv_width(), b.k_cache.begin() + dst);
        std::copy_n(seq.v.begin() + src, kv_width(), b.v_cache.begin() + dst);
      }
      b.page_slot.push_back(block * block_size_);
      b.page_first.push_back(page.first);
      b.page_count.push_back(page.count);
    }
    b.page_start.push_back(static_cast<int32_t>(b.page_slot.size()));
  }
  return b;
}

AttentionMetadata PagedBatch::Metadata() {
  const int64_t n = static_cast<int64_t>(page_start.size()) - 1;
  const int64_t t = static_cast<int64_t>(query_positions.size());
  const int64_t p = static_cast<int64_t>(page_slot.size());
  AttentionMetadata meta;
  meta.num_seqs = static_cast<int32_t>(n);
  meta.num_tokens = static_cast<int32_t>(t);
  meta.query_start = Tensor(query_start.data(), DType::kI32, {n + 1});
  meta.query_positions = Tensor(query_positions.data(), DType::kI32, {t});
  meta.page_start = Tensor(page_start.data(), DType::kI32, {n + 1});
  meta.page_first_slot = Tensor(page_slot.data(), DType::kI32, {p});
  meta.page_first_position = Tensor(page_first.data(), DType::kI32, {p});
  meta.page_num_tokens = Tensor(page_count.data(), DType::kI32, {p});
  return meta;
}

KvLayer PagedBatch::Cache(int32_t block_size, const AttentionShape& shape) {
  return KvLayer{Tensor(k_cache.data(), DType::kF32,
                        {num_blocks, block_size, shape.num_kv_heads, shape.head_dim}),
                 Tensor(v_cache.data(), DType::kF32,
                        {num_blocks, block_size, shape.num_kv_heads, shape.head_dim})};
}

Result AttentionTest::RunPaged(const std::vector<std::vector<Page>>& pages, bool strided,
                               bool want_lse) {
  PagedBatch batch = Place(pages);
  const int64_t t = num_tokens();
  const int64_t pad = strided ? 2 * shape_.head_dim + 3 : 0;
  const int64_t row = q_width() + pad;
  std::vector<float> q_storage(t * row, kNaN), out_storage(t * row, kNaN);
  for (int64_t r = 0; r < t; ++r) {
    std::copy_n(q_.begin() + r * q_width(), q_width(), q_storage.begin() + r * row + pad);
  }
  const Tensor q = Tensor(q_storage.data(), DType::kF32, {t, row}).Columns(pad, row);
  const Tensor out = Tensor(out_storage.data(), DType::kF32, {t, row}).Columns(pad, row);
  std::vector<float> lse(t * shape_.num_q_heads, kNaN);
  const Tensor lse_tensor =
      want_lse ? Tensor(lse.data(), DType::kF32, {t, shape_.num_q_heads}) : Tensor();
  backend_->Attention(q, batch.Cache(block_size_, shape_), batch.Metadata(), shape_, out,
                      lse_tensor);

  Result result;
  for (int64_t r = 0; r < t; ++r) {
    for (int64_t c = 0; c < pad; ++c) {
      EXPECT_TRUE(std::isnan(out_storage[r * row + c])) << "pad written";
    }
    result.out.insert(result.out.end(), out_storage.begin() + r * row + pad,
                      out_storage.begin() + (r + 1) * row);
  }
  if (want_lse) result.lse = lse;
  return result;
}

Result AttentionTest::Reference(const std::vector<std::vector<Page>>& pages) const {
  const int32_t d = shape_.head_dim;
  Result result;
  result.out.assign(num_tokens() * q_width(), 0.0f);
  result.lse.assign(num_tokens() * shape_.num_q_heads, -kInf);
  int64_t row = 0;
  for (size_t s = 0; s < seqs_.size(); ++s) {
    const Sequence& seq = seqs_[s];
    std::vector<int32_t> keys;
    for (const Page& p : pages[s]) {
      for (int32_t i = 0; i < p.count; ++i) keys.push_back(p.first + i);
    }
    for (int32_t qpos : seq.query_positions) {
      for (int32_t h = 0; h < shape_.num_q_heads; ++h) {
        const int32_t kv = (shape_.q_head_offset + h) / shape_.group_size;
        const float* q = &q_[row * q_width() + h * d];
        std::vector<double> scores;
        std::vector<const float*> values;
        for (int32_t kp : keys) {
          if (kp > qpos || (shape_.sliding_window > 0 && kp <= qpos - shape_.sliding_window))
            continue;
          const float* k = &seq.k[kp * kv_width() + kv * d];
          double dot = 0.0;
          for (int32_t i = 0; i < d; ++i) dot += static_cast<double>(q[i]) * k[i];
          scores.push_back(shape_.scale * dot);
          values.push_back(&seq.v[kp * kv_width() + kv * d]);
        }
        if (scores.empty()) continue;
        const double m = *std::max_element(scores.begin(), scores.end());
        double sum = 0.0;
        std::vector<double> acc(d, 0.0);
        for (size_t j = 0; j < scores.size(); ++j) {
          const double w = std::exp(scores[j] - m);
          sum += w;
          for (int32_t i = 0; i < d; ++i) acc[i] += w * values[j][i];
        }
        for (int32_t i = 0; i < d; ++i) {
          result.out[row * q_width() + h * d + i] = static_cast<float>(acc[i] / sum);
        }
        result.lse[row * shape_.num_q_heads + h] = static_cast<float>(m + std::log(sum));
      }
      ++row;
    }
  }
  return result;
}

struct PrefillCase {
  int32_t group_size;
  int32_t head_dim;
};
void PrintTo(const PrefillCase& c, std::ostream* os) {
  *os << "group " << c.group_size << ", head_dim " << c.head_dim;
}

class PrefillTest : public AttentionTest, public ::testing::WithParamInterface<PrefillCase> {};

TEST_P(PrefillTest, SingleSequenceAllQueries) {
  const auto [group, d] = GetParam();
  SetShape(/*num_q_heads=*/4, /*q_head_offset=*/0, group, /*num_kv_heads=*/4 / group, d);
  AddSequence(37, Range(0, 37), Range(0, 37));  // 4 full pages of 8 and one of 5
  MakeQueries();
  const auto pages = AllPages();
  ExpectNear(RunPaged(pages), Reference(pages));
}

TEST_P(PrefillTest, StridedQueryAndOutput) {
  const auto [group, d] = GetParam();
  SetShape(4, 0, group, 4 / group, d);
  AddSequence(19, Range(0, 19), Range(0, 19));
  MakeQueries();
  const auto pages = AllPages();
  ExpectNear(RunPaged(pages, /*strided=*/true), Reference(pages));
}

INSTANTIATE_TEST_SUITE_P(GqaAndHeadDims, PrefillTest,
                         ::testing::Values(PrefillCase{1, 8}, PrefillCase{2, 16},
                                           PrefillCase{4, 48}, PrefillCase{1, 48},
                                           PrefillCase{4, 8}));

TEST_F(AttentionTest, MixedBatchWithHeadOffset) {
  // The rank's slice of query heads: global heads [4, 6) of 8, with 2 queries per K/V head, so
  // they read K/V head 2 of 4.
  SetShape(/*num_q_heads=*/2, /*q_head_offset=*/4, /*group_size=*/2, /*num_kv_heads=*/4, 16);
  block_size_ = 4;
  AddSequence(21, Range(0, 21), {20});           // decode
  AddSequence(26, Range(0, 26), Range(10, 26));  // a prefill chunk after a cached prefix
  AddSequence(1, {0}, {0});                      // a one-token prompt
  AddSequence(9, Range(0, 9), {8});              // decode, last page holding one token
  MakeQueries();
  const auto pages = AllPages();
  ExpectNear(RunPaged(pages), Reference(pages));
}

TEST_F(AttentionTest, OutputWithoutLseIsTheSame) {
  SetShape(3, 1, 1, 4, 8);
  block_size_ = 5;
  AddSequence(23, Range(0, 23), Range(0, 23));
  MakeQueries();
  const auto pages = AllPages();
  Result with = Reference(pages);
  Result without = RunPaged(pages, false, /*want_lse=*/false);
  with.lse.clear();
  ExpectNear(without, with);
}

TEST_F(AttentionTest, QueriesBeforeAllKeysGetZerosAndMinusInfinity) {
  // A rank holding only positions [10, 20) of a sequence (a later zig-zag chunk): queries at
  // positions < 10 see nothing here; a query at 10 sees exactly one key.
  SetShape(2, 0, 1, 2, 16);
  AddSequence(20, Range(10, 20), {0, 5, 9, 10, 11, 19});
  MakeQueries();
  const auto pages = AllPages();
  const Result got = RunPaged(pages);
  ExpectNear(got, Reference(pages));
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t i = 0; i < q_width(); ++i) ASSERT_EQ(got.out[r * q_width() + i], 0.0f);
    for (int64_t h = 0; h < 2; ++h) ASSERT_EQ(got.lse[r * 2 + h], -kInf);
  }
  // One visible key: the output is its value and lse its scaled score.
  for (int64_t i = 0; i < 16; ++i) {
    ASSERT_NEAR(got.out[3 * q_width() + i], seqs_[0].v[10 * kv_width() + i], 1e-6);
  }
}

TEST_F(AttentionTest, SequenceWithoutPages) {
  SetShape(2, 0, 2, 1, 8);
  AddSequence(4, {}, {0, 3});
  AddSequence(6, Range(0, 6), {5});
  MakeQueries();
  const auto pages = AllPages();
  const Result got = RunPaged(pages);
  ExpectNear(got, Reference(pages));
  EXPECT_EQ(got.lse[0], -kInf);
  EXPECT_TRUE(std::isfinite(got.lse[4]));
}

TEST_F(AttentionTest, SlidingWindow) {
  SetShape(4, 0, 2, 2, 16, /*window=*/5);
  block_size_ = 4;
  AddSequence(30, Range(0, 30), Range(0, 30));
  AddSequence(12, Range(0, 12), {11});
  MakeQueries();
  const auto pages = AllPages();
  const Result got = RunPaged(pages);
  ExpectNear(got, Reference(pages));
  // The window really cuts: without it the last query of sequence 0 sees 30 keys, not 5.
  shape_.sliding_window = 0;
  const Result full = Reference(pages);
  double diff = 0.0;
  for (int64_t i = 29 * q_width(); i < 30 * q_width(); ++i) {
    diff += std::abs(full.out[i] - got.out[i]);
  }
  EXPECT_GT(diff, 1e-3);
}

TEST_F(AttentionTest, LargeScoresStayFinite) {
  // Scores near ±100 overflow exp() in float without the max subtraction.
  SetShape(2, 0, 1, 2, 16);
  AddSequence(40, Range(0, 40), Range(30, 40));
  MakeQueries(/*amplitude=*/25.0f);
  const auto pages = AllPages();
  const Result got = RunPaged(pages);
  for (float x : got.out) ASSERT_TRUE(std::isfinite(x));
  ExpectNear(got, Reference(pages), 1e-4);
}

// Splits each sequence's pages into two disjoint sets (as two ranks would hold them), runs
// attention on each, merges by log-sum-exp and compares with attention over all pages.
TEST_F(AttentionTest, LseCombineOfDisjointPageSetsIsExact) {
  SetShape(4, 2, 2, 4, 16);
  block_size_ = 4;
  AddSequence(50, Range(0, 50), {49});                   // decode
  AddSequence(33, Range(0, 33), {0, 7, 8, 20, 31, 32});  // scattered queries, incl. position 0
  AddSequence(7, Range(0, 7), {6});                      // every page on one side
  MakeQueries();
  const auto all = AllPages();
  std::vector<std::vector<Page>> part1(all.size()), part2(all.size());
  std::bernoulli_distribution coin(0.5);
  for (size_t s = 0; s < all.size(); ++s) {
    for (const Page& p : all[s]) (s == 2 || coin(rng_) ? part1 : part2)[s].push_back(p);
  }
  ASSERT_FALSE(part2[0].empty());
  const Result r1 = RunPaged(part1), r2 = RunPaged(part2), whole = RunPaged(all);
  const int64_t d = shape_.head_dim;
  Result merged;
  merged.out.resize(whole.out.size());
  merged.lse.resize(whole.lse.size());
  for (int64_t t = 0; t < num_tokens(); ++t) {
    for (int64_t h = 0; h < shape_.num_q_heads; ++h) {
      const size_t j = t * shape_.num_q_heads + h;
      const float m = std::max(r1.lse[j], r2.lse[j]);
      const float w1 = std::exp(r1.lse[j] - m), w2 = std::exp(r2.lse[j] - m);
      for (int64_t i = 0; i < d; ++i) {
        const size_t k = t * q_width() + h * d + i;
        merged.out[k] = (r1.out[k] * w1 + r2.out[k] * w2) / (w1 + w2);
      }
      merged.lse[j] = m + std::log(w1 + w2);
    }
  }
  ExpectNear(merged, whole, 1e-5);
  ExpectNear(whole, Reference(all));
}

TEST_F(AttentionTest, RowsOutsideEverySequenceAreUntouched) {
  SetShape(1, 0, 1, 1, 8);
  AddSequence(5, Range(0, 5), {4});
  q_ = Random(3 * 8, rng_);  // T = 3 rows, only row 0 belongs to a sequence
  std::vector<float> k_cache(8 * 8, 0.5f), v_cache(8 * 8, 0.25f), out(3 * 8, kNaN);
  std::vector<int32_t> query_start = {0, 1}, positions = {4, 0, 0}, page_start = {0, 1};
  std::vector<int32_t> slot = {0}, first = {0}, count = {5};
  AttentionMetadata meta;
  meta.num_seqs = 1;
  meta.num_tokens = 3;
  meta.query_start = Tensor(query_start.data(), DType::kI32, {2});
  meta.query_positions = Tensor(positions.data(), DType::kI32, {3});
  meta.page_start = Tensor(page_start.data(), DType::kI32, {2});
  meta.page_first_slot = Tensor(slot.data(), DType::kI32, {1});
  meta.page_first_position = Tensor(first.data(), DType::kI32, {1});
  meta.page_num_tokens = Tensor(count.data(), DType::kI32, {1});
  const KvLayer cache{Tensor(k_cache.data(), DType::kF32, {1, 8, 1, 8}),
                      Tensor(v_cache.data(), DType::kF32, {1, 8, 1, 8})};
  backend_->Attention(Tensor(q_.data(), DType::kF32, {3, 8}), cache, meta, shape_,
                      Tensor(out.data(), DType::kF32, {3, 8}), Tensor());
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(out[i], 0.25f);  // equal keys: the mean of V
  for (int i = 8; i < 24; ++i) EXPECT_TRUE(std::isnan(out[i]));
}

TEST_F(AttentionTest, BadMetadataDies) {
  SetShape(2, 0, 1, 2, 8);
  AddSequence(4, Range(0, 4), {3});
  MakeQueries();
  std::vector<float> k_cache(2 * 4 * 16), v_cache(k_cache.size()), out(16);
  std::vector<int32_t> query_start = {0, 1}, positions = {3}, page_start = {0, 1};
  std::vector<int32_t> slot = {8}, first = {0}, count = {4};  // block 2 of 2
  AttentionMetadata meta;
  meta.num_seqs = 1;
  meta.num_tokens = 1;
  meta.query_start = Tensor(query_start.data(), DType::kI32, {2});
  meta.query_positions = Tensor(positions.data(), DType::kI32, {1});
  meta.page_start = Tensor(page_start.data(), DType::kI32, {2});
  meta.page_first_slot = Tensor(slot.data(), DType::kI32, {1});
  meta.page_first_position = Tensor(first.data(), DType::kI32, {1});
  meta.page_num_tokens = Tensor(count.data(), DType::kI32, {1});
  const KvLayer cache{Tensor(k_cache.data(), DType::kF32, {2, 4, 2, 8}),
                      Tensor(v_cache.data(), DType::kF32, {2, 4, 2, 8})};
  const Tensor q(q_.data(), DType::kF32, {1, 16});
  const Tensor o(out.data(), DType::kF32, {1, 16});
  EXPECT_DEATH(backend_->Attention(q, cache, meta, shape_, o, Tensor()), "outside the cache");
  slot[0] = 4;
  count[0] = 5;  // runs one slot past the end
  EXPECT_DEATH(backend_->Attention(q, cache, meta, shape_, o, Tensor()), "outside the cache");
  count[0] = 4;
  query_start[1] = 2;
  EXPECT_DEATH(backend_->Attention(q, cache, meta, shape_, o, Tensor()), "query_start");
  query_start[1] = 1;
  AttentionShape wide = shape_;
  wide.q_head_offset = 1;
  EXPECT_DEATH(backend_->Attention(q, cache, meta, wide, o, Tensor()), "K/V head");
  backend_->Attention(q, cache, meta, shape_, o, Tensor());  // the fixed metadata runs
}

}  // namespace
}  // namespace tspserve
