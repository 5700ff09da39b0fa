// CUDA paged attention against the CPU backend's attention on the same bf16-rounded Q, K and V:
// block sizes 1, 5, 16 and 64, pages shuffled and partially filled, several sequences per call,
// GQA groups 1, 3, 4 and 8, head dims 16 to 128, head slices that start mid-group, zig-zag query
// chunks, sliding windows, long gathered runs, prefill and split-KV decode up to 5000 keys, and
// queries that see no key. Cache slots that no page describes hold NaN, so a kernel that reads
// past a page's tokens poisons its output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/backend/attention_metadata.h"
#include "engine/backend/backend.h"
#include "tests/engine/backend/cuda/cuda_test_util.h"

namespace tspserve::gpu_test {
namespace {

std::vector<int32_t> Range(int32_t begin, int32_t end) {
  std::vector<int32_t> r;
  for (int32_t p = begin; p < end; ++p) r.push_back(p);
  return r;
}

std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// One sequence of a batch: K and V exist for every position in [0, length) so that any subset of
// pages sees the same values; its query rows sit at `query_positions`, in row order.
struct Sequence {
  int32_t length = 0;
  std::vector<int32_t> query_positions;
  std::vector<float> k, v;  // [length, n_kv * D], bf16-rounded
};

// A run of consecutive positions in consecutive cache slots (first_slot < 0: not placed yet).
struct Page {
  int32_t first_position = 0;
  int32_t count = 0;
  int32_t first_slot = -1;
};
using Pages = std::vector<std::vector<Page>>;  // per sequence, in metadata order

// The host side of one call: a cache holding the pages (NaN elsewhere) and the metadata vectors.
struct HostBatch {
  std::vector<float> k_cache, v_cache;  // [num_slots, n_kv * D]
  std::vector<int32_t> query_start = {0}, query_positions, page_start = {0};
  std::vector<int32_t> first_slot, first_position, num_tokens;
  int32_t max_query_len = 0, max_pages = 0;
  int64_t max_keys = 0;
};

struct Result {
  std::vector<float> out;  // [T, n_q * D]
  std::vector<float> lse;  // [T, n_q]; empty when not asked for
};

struct RunOptions {
  bool strided = true;  // q and out are column views of wider rows
  bool want_lse = true;
};

class CudaAttentionTest : public GpuTest {
 protected:
  void SetShape(int32_t num_q_heads, int32_t q_head_offset, int32_t group_size,
                int32_t num_kv_heads, int32_t head_dim, int32_t window = 0) {
    shape_.num_q_heads = num_q_heads;
    shape_.q_head_offset = q_head_offset;
    shape_.group_size = group_size;
    shape_.num_kv_heads = num_kv_heads;
    shape_.head_dim = head_dim;
    shape_.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    shape_.sliding_window = window;
    ASSERT_LT((q_head_offset + num_q_heads - 1) / group_size, num_kv_heads) << "bad test shape";
  }
  int64_t kv_width() const { return int64_t{shape_.num_kv_heads} * shape_.head_dim; }
  int64_t q_width() const { return int64_t{shape_.num_q_heads} * shape_.head_dim; }
  int64_t num_tokens() const {
    int64_t t = 0;
    for (const Sequence& s : seqs_) t += static_cast<int64_t>(s.query_positions.size());
    return t;
  }

  void AddSequence(int32_t length, std::vector<int32_t> queries) {
    Sequence s;
    s.length = length;
    s.query_positions = std::move(queries);
    s.k = RandomBf16(static_cast<size_t>(length * kv_width()), rng_);
    s.v = RandomBf16(static_cast<size_t>(length * kv_width()), rng_);
    seqs_.push_back(std::move(s));
  }
  // Q values uniform in [-amplitude, amplitude): about 2 makes the softmax peaked enough that a
  // wrong score shows in the output.
  void MakeQueries(float amplitude = 2.0f) {
    q_ = RandomBf16(static_cast<size_t>(num_tokens() * q_width()), rng_, -amplitude, amplitude);
  }

  // Cuts sorted key positions into pages of at most block_size_ consecutive positions.
  std::vector<Page> Paginate(const std::vector<int32_t>& positions) const;
  // Paginate() of every sequence's keys, each page in its own block: blocks shuffled, pages listed
  // in shuffled order, a few blocks left unused. Sets num_slots_.
  Pages PlaceInShuffledBlocks(const std::vector<std::vector<int32_t>>& keys);

  HostBatch Build(const Pages& pages) const;
  Result RunCpu(HostBatch& batch);
  Result RunGpu(const HostBatch& batch, const RunOptions& options);
  // Runs both backends on `pages` and compares them.
  void RunAndCompare(const Pages& pages, const RunOptions& options = {});

  AttentionShape shape_;
  int32_t block_size_ = 16;
  int64_t num_slots_ = 0;
  std::vector<Sequence> seqs_;
  std::vector<float> q_;  // [T, n_q * D]
  Result gpu_result_;     // of the last RunAndCompare
};

std::vector<Page> CudaAttentionTest::Paginate(const std::vector<int32_t>& positions) const {
  std::vector<Page> pages;
  for (int32_t p : positions) {
    if (pages.empty() || pages.back().count == block_size_ ||
        pages.back().first_position + pages.back().count != p) {
      pages.push_back(Page{p, 0, -1});
    }
    ++pages.back().count;
  }
  return pages;
}

Pages CudaAttentionTest::PlaceInShuffledBlocks(const std::vector<std::vector<int32_t>>& keys) {
  Pages pages;
  int32_t total = 0;
  for (const std::vector<int32_t>& k : keys) {
    pages.push_back(Paginate(k));
    total += static_cast<int32_t>(pages.back().size());
  }
  const int32_t num_blocks = total + 3;
  std::vector<int32_t> blocks = Range(0, num_blocks);
  std::shuffle(blocks.begin(), blocks.end(), rng_);
  size_t next = 0;
  for (std::vector<Page>& seq_pages : pages) {
    std::shuffle(seq_pages.begin(), seq_pages.end(), rng_);
    for (Page& page : seq_pages) page.first_slot = blocks[next++] * block_size_;
  }
  num_slots_ = int64_t{num_blocks} * block_size_;
  return pages;
}

HostBatch CudaAttentionTest::Build(const Pages& pages) const {
  CHECK_EQ(pages.size(), seqs_.size());
  HostBatch b;
  const int64_t width = kv_width();
  b.k_cache.assign(static_cast<size_t>(num_slots_ * width), kNaN);
  b.v_cache.assign(b.k_cache.size(), kNaN);
  std::vector<bool> used(static_cast<size_t>(num_slots_), false);
  for (size_t s = 0; s < seqs_.size(); ++s) {
    const Sequence& seq = seqs_[s];
    b.query_positions.insert(b.query_positions.end(), seq.query_positions.begin(),
                             seq.query_positions.end());
    b.query_start.push_back(static_cast<int32_t>(b.query_positions.size()));
    b.max_query_len = std::max(b.max_query_len, static_cast<int32_t>(seq.query_positions.size()));
    int64_t keys = 0;
    for (const Page& page : pages[s]) {
      CHECK(page.first_slot >= 0 && page.first_slot + page.count <= num_slots_);
      CHECK(page.first_position >= 0 && page.first_position + page.count <= seq.length);
      for (int32_t i = 0; i < page.count; ++i) {
        const int64_t slot = page.first_slot + i;
        CHECK(!used[static_cast<size_t>(slot)]) << "test pages overlap at slot " << slot;
        used[static_cast<size_t>(slot)] = true;
        const int64_t src = (page.first_position + i) * width;
        std::copy_n(seq.k.begin() + src, width, b.k_cache.begin() + slot * width);
        std::copy_n(seq.v.begin() + src, width, b.v_cache.begin() + slot * width);
      }
      b.first_slot.push_back(page.first_slot);
      b.first_position.push_back(page.first_position);
      b.num_tokens.push_back(page.count);
      keys += page.count;
    }
    b.page_start.push_back(static_cast<int32_t>(b.first_slot.size()));
    b.max_pages = std::max(b.max_pages, static_cast<int32_t>(pages[s].size()));
    b.max_keys = std::max(b.max_keys, keys);
  }
  return b;
}

// The cache seen as [num_slots, 1, n_kv, D] blocks: slots index it the same way for any block
// size, and the CPU only needs the slot view.
Result CudaAttentionTest::RunCpu(HostBatch& b) {
  const int64_t t = num_tokens(), n = static_cast<int64_t>(seqs_.size());
  const int64_t p = static_cast<int64_t>(b.first_slot.size());
  AttentionMetadata meta;
  meta.num_seqs = static_cast<int32_t>(n);
  meta.num_tokens = static_cast<int32_t>(t);
  meta.max_query_len = b.max_query_len;
  meta.max_pages = b.max_pages;
  meta.max_keys = b.max_keys;
  meta.query_start = Tensor(b.query_start.data(), DType::kI32, {n + 1});
  meta.query_positions = Tensor(b.query_positions.data(), DType::kI32, {t});
  meta.page_start = Tensor(b.page_start.data(), DType::kI32, {n + 1});
  meta.page_first_slot = Tensor(b.first_slot.data(), DType::kI32, {p});
  meta.page_first_position = Tensor(b.first_position.data(), DType::kI32, {p});
  meta.page_num_tokens = Tensor(b.num_tokens.data(), DType::kI32, {p});
  const std::initializer_list<int64_t> shape = {num_slots_, 1, shape_.num_kv_heads,
                                                shape_.head_dim};
  const KvLayer cache{Tensor(b.k_cache.data(), DType::kF32, shape),
                      Tensor(b.v_cache.data(), DType::kF32, shape)};
  std::vector<float> q = q_;
  Result r;
  r.out.assign(static_cast<size_t>(t * q_width()), kNaN);
  r.lse.assign(static_cast<size_t>(t * shape_.num_q_heads), kNaN);
  cpu_->Attention(HostF32(q, {t, q_width()}), cache, meta, shape_, HostF32(r.out, {t, q_width()}),
                  HostF32(r.lse, {t, shape_.num_q_heads}));
  return r;
}

// The GPU sees the real block structure: [num_slots / block_size, block_size, n_kv, D].
Result CudaAttentionTest::RunGpu(const HostBatch& b, const RunOptions& options) {
  const int64_t t = num_tokens(), n = static_cast<int64_t>(seqs_.size());
  const int64_t p = static_cast<int64_t>(b.first_slot.size());
  CHECK_EQ(num_slots_ % block_size_, 0);
  AttentionMetadata meta;
  meta.num_seqs = static_cast<int32_t>(n);
  meta.num_tokens = static_cast<int32_t>(t);
  meta.max_query_len = b.max_query_len;
  meta.max_pages = b.max_pages;
  meta.max_keys = b.max_keys;
  meta.query_start = UploadRaw(b.query_start, DType::kI32, {n + 1});
  meta.query_positions = UploadRaw(b.query_positions, DType::kI32, {t});
  meta.page_start = UploadRaw(b.page_start, DType::kI32, {n + 1});
  meta.page_first_slot = UploadRaw(b.first_slot, DType::kI32, {p});
  meta.page_first_position = UploadRaw(b.first_position, DType::kI32, {p});
  meta.page_num_tokens = UploadRaw(b.num_tokens, DType::kI32, {p});
  const std::vector<int64_t> shape = {num_slots_ / block_size_, block_size_, shape_.num_kv_heads,
                                      shape_.head_dim};
  const KvLayer cache{Upload(b.k_cache, shape), Upload(b.v_cache, shape)};
  const int64_t d = shape_.head_dim;
  const int64_t pad = options.strided ? 2 * d : 0, offset = options.strided ? d : 0;
  const GpuMatrix q = Matrix(t, q_width(), pad, offset, &q_);
  const GpuMatrix out = Matrix(t, q_width(), pad, offset, nullptr);
  const Tensor lse =
      options.want_lse ? NewTensor(DType::kF32, {t, shape_.num_q_heads}) : Tensor();
  gpu_->Attention(q.view, cache, meta, shape_, out.view, lse);
  Result r;
  bool pads_intact = false;
  r.out = Read(out, &pads_intact);
  EXPECT_TRUE(pads_intact) << "Attention wrote outside its output view";
  if (options.want_lse) r.lse = Download(lse);
  return r;
}

// out: heads of a query that the CPU leaves at zero (no visible key) must be exactly zero; the rest
// must be finite with relative L2 < 2e-2 over the whole output and over each query head's D
// values. lse: exactly -inf where the CPU has -inf, else finite and within 2e-2.
void ExpectMatches(const Result& gpu, const Result& cpu, int64_t head_dim) {
  const int64_t row_width = head_dim;
  ASSERT_EQ(gpu.out.size(), cpu.out.size());
  EXPECT_TRUE(Close(gpu.out, cpu.out, "Attention out"));
  const int64_t rows = static_cast<int64_t>(cpu.out.size()) / row_width;
  double worst = 0.0;
  int64_t worst_row = -1;
  for (int64_t r = 0; r < rows; ++r) {
    const auto begin = cpu.out.begin() + r * row_width;
    const std::vector<float> want(begin, begin + row_width);
    const std::vector<float> got(gpu.out.begin() + r * row_width,
                                 gpu.out.begin() + (r + 1) * row_width);
    if (std::all_of(want.begin(), want.end(), [](float x) { return x == 0.0f; })) {
      for (int64_t i = 0; i < row_width; ++i) {
        ASSERT_EQ(got[static_cast<size_t>(i)], 0.0f)
            << "query head " << r << " sees no key: want zeros, element " << i;
      }
      continue;
    }
    const Comparison c = Compare(got, want);
    if (c.non_finite > 0 || !(c.relative_l2 <= worst)) {
      worst = c.non_finite > 0 ? kInf : c.relative_l2;
      worst_row = r;
    }
  }
  EXPECT_LT(worst, kMaxRelativeL2) << "worst query head (row * n_q + head) " << worst_row
                                   << " has relative L2 error " << worst;
  ASSERT_EQ(gpu.lse.size(), cpu.lse.size());
  for (size_t i = 0; i < cpu.lse.size(); ++i) {
    if (std::isinf(cpu.lse[i]) && cpu.lse[i] < 0) {
      ASSERT_EQ(gpu.lse[i], -kInf) << "lse " << i << " of a query that sees no key";
    } else {
      ASSERT_TRUE(std::isfinite(gpu.lse[i])) << "lse " << i << " is " << gpu.lse[i];
      ASSERT_NEAR(gpu.lse[i], cpu.lse[i], 2e-2) << "lse " << i;
    }
  }
}

void CudaAttentionTest::RunAndCompare(const Pages& pages, const RunOptions& options) {
  HostBatch batch = Build(pages);
  const Result cpu = RunCpu(batch);
  gpu_result_ = RunGpu(batch, options);
  Result want = cpu;
  if (!options.want_lse) want.lse.clear();
  ExpectMatches(gpu_result_, want, shape_.head_dim);
}

// ---- prefill: GQA groups, head dims, block sizes, mixed batches ----

struct HeadCase {
  int32_t block_size;
  int32_t group_size;
  int32_t head_dim;
  int32_t num_kv_heads;
  int32_t q_head_offset;
  int32_t num_q_heads;
};
void PrintTo(const HeadCase& c, std::ostream* os) {
  *os << "block " << c.block_size << ", group " << c.group_size << ", D " << c.head_dim
      << ", n_kv " << c.num_kv_heads << ", q heads [" << c.q_head_offset << ", +"
      << c.num_q_heads << ")";
}

class HeadCaseTest : public CudaAttentionTest, public ::testing::WithParamInterface<HeadCase> {
 protected:
  void SetUpShape() {
    const HeadCase c = GetParam();
    block_size_ = c.block_size;
    SetShape(c.num_q_heads, c.q_head_offset, c.group_size, c.num_kv_heads, c.head_dim);
  }
};

// Every block size, group size and head dim appears; most cases take a slice of query heads
// that starts inside a group and is not a whole number of groups.
const HeadCase kHeadCases[] = {
    {1, 1, 16, 3, 1, 2},  {5, 3, 32, 3, 2, 5},  {16, 4, 64, 2, 1, 6},  {64, 8, 128, 2, 3, 9},
    {16, 8, 16, 1, 0, 8}, {5, 4, 128, 4, 4, 7}, {64, 1, 64, 5, 0, 5},  {1, 3, 128, 2, 0, 6},
    {64, 3, 32, 4, 5, 4}, {16, 1, 128, 8, 0, 8},
};

using PrefillTest = HeadCaseTest;

TEST_P(PrefillTest, MixedBatchWithZigZagChunks) {
  SetUpShape();
  AddSequence(75, Range(0, 75));                             // a whole prompt
  AddSequence(40, Range(25, 40));                            // a chunk after a cached prefix
  AddSequence(1, {0});                                       // a one-token prompt
  AddSequence(60, Concat(Range(0, 10), Range(50, 60)));      // two zig-zag chunks, all keys
  MakeQueries();
  RunAndCompare(PlaceInShuffledBlocks({Range(0, 75), Range(0, 40), {0}, Range(0, 60)}));
}

TEST_P(PrefillTest, WithoutLseAndContiguousRows) {
  SetUpShape();
  AddSequence(33, Range(0, 33));
  AddSequence(20, Range(3, 20));
  MakeQueries();
  RunAndCompare(PlaceInShuffledBlocks({Range(0, 33), Range(0, 20)}),
                RunOptions{/*strided=*/false, /*want_lse=*/false});
}

INSTANTIATE_TEST_SUITE_P(GqaHeadDimsBlockSizes, PrefillTest, ::testing::ValuesIn(kHeadCases));

// ---- decode: one query per sequence, split-KV over long contexts ----

using DecodeTest = HeadCaseTest;

TEST_P(DecodeTest, ContextsUpTo5000Keys) {
  SetUpShape();
  const std::vector<int32_t> contexts = {1, 17, 1000, 5000};
  std::vector<std::vector<int32_t>> keys;
  for (int32_t length : contexts) {
    AddSequence(length, {length - 1});
    keys.push_back(Range(0, length));
  }
  // A sequence without pages on this rank, and one of which this rank holds every other run of
  // block_size positions (sequence-sharded decode): the query still sits at the last position.
  AddSequence(9, {8});
  keys.push_back({});
  AddSequence(3000, {2999});
  std::vector<int32_t> own;
  for (int32_t p = 0; p < 3000; ++p) {
    if ((p / block_size_) % 2 == 1) own.push_back(p);
  }
  keys.push_back(own);
  MakeQueries();
  RunAndCompare(PlaceInShuffledBlocks(keys));
}

INSTANTIATE_TEST_SUITE_P(GqaHeadDimsBlockSizes, DecodeTest,
                         ::testing::Values(HeadCase{16, 4, 128, 2, 0, 8},
                                           HeadCase{64, 8, 64, 1, 0, 8},
                                           HeadCase{5, 1, 32, 4, 1, 3},
                                           HeadCase{1, 3, 16, 2, 1, 5},
                                           HeadCase{16, 8, 128, 4, 3, 13}));

// ---- single scenarios ----

TEST_F(CudaAttentionTest, ZigZagChunksOverOwnKeys) {
  // Sequence-sharded prefill: this rank holds (and queries) only its zig-zag chunks, e.g. chunks 0
  // and 3 of 4 for rank 0 of N = 2; queries of the later chunk see both chunks' keys.
  block_size_ = 16;
  SetShape(8, 0, 4, 2, 64);
  const std::vector<int32_t> rank0 = Concat(Range(0, 10), Range(50, 60));
  const std::vector<int32_t> rank1 = Concat(Range(11, 23), Range(33, 45));
  AddSequence(60, rank0);
  AddSequence(45, rank1);
  MakeQueries();
  RunAndCompare(PlaceInShuffledBlocks({rank0, rank1}));
}

TEST_F(CudaAttentionTest, SlidingWindow) {
  block_size_ = 5;
  SetShape(4, 2, 2, 3, 32, /*window=*/7);
  AddSequence(30, Range(0, 30));
  AddSequence(1000, {999});
  AddSequence(5000, {4999});
  AddSequence(60, Concat(Range(0, 10), Range(50, 60)));
  MakeQueries();
  RunAndCompare(
      PlaceInShuffledBlocks({Range(0, 30), Range(0, 1000), Range(0, 5000), Range(0, 60)}));
}

TEST_F(CudaAttentionTest, LongGatheredPages) {
  // Sequence-sharded prefill gathers K/V into runs that are one page however long: a 3000-slot run
  // starting at a block boundary, a 131-slot run starting at an odd slot, and a run of positions
  // [1000, 1500) only (a query at 999 sees none of it).
  block_size_ = 16;
  num_slots_ = 250 * 16;
  SetShape(6, 1, 4, 2, 128);
  AddSequence(3000, Concat(Range(2960, 3000), {0, 1, 1500, 2047, 2048}));
  AddSequence(131, {130});
  AddSequence(1600, {999, 1000, 1599});
  MakeQueries();
  const Pages pages = {{Page{0, 3000, 16}}, {Page{0, 131, 3021}}, {Page{1000, 500, 3200}}};
  RunAndCompare(pages);
}

TEST_F(CudaAttentionTest, LongPrefill) {
  block_size_ = 16;
  SetShape(8, 0, 4, 2, 128);
  AddSequence(400, Range(0, 400));
  AddSequence(150, Range(100, 150));
  MakeQueries();
  RunAndCompare(PlaceInShuffledBlocks({Range(0, 400), Range(0, 150)}));
}

TEST_F(CudaAttentionTest, QueriesThatSeeNoKey) {
  // A sequence with no pages here; a rank holding only positions [10, 20) whose queries at 0, 5
  // and 9 precede all of them; a decode whose only page starts after the query.
  block_size_ = 16;
  SetShape(4, 0, 2, 2, 64);
  AddSequence(4, {0, 3});
  AddSequence(20, {0, 5, 9, 10, 11, 19});
  AddSequence(40, {20});
  MakeQueries();
  RunAndCompare(PlaceInShuffledBlocks({{}, Range(10, 20), Range(30, 40)}));
  const std::vector<int64_t> blind_rows = {0, 1, 2, 3, 4, 8};
  for (int64_t r : blind_rows) {
    for (int64_t h = 0; h < shape_.num_q_heads; ++h) {
      ASSERT_EQ(gpu_result_.lse[static_cast<size_t>(r * shape_.num_q_heads + h)], -kInf)
          << "row " << r << " head " << h;
    }
    for (int64_t i = 0; i < q_width(); ++i) {
      ASSERT_EQ(gpu_result_.out[static_cast<size_t>(r * q_width() + i)], 0.0f) << "row " << r;
    }
  }
}

TEST_F(CudaAttentionTest, LargeScoresStayFinite) {
  // Scores near ±100 overflow exp() in float without the max subtraction.
  block_size_ = 16;
  SetShape(2, 0, 1, 2, 64);
  AddSequence(40, Range(30, 40));
  AddSequence(1000, {999});
  MakeQueries(/*amplitude=*/25.0f);
  RunAndCompare(PlaceInShuffledBlocks({Range(0, 40), Range(0, 1000)}));
}

}  // namespace
}  // namespace tspserve::gpu_test
