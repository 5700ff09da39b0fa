#include "engine/backend/cpu/cpu_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/backend/cpu/cpu_views.h"

namespace tspserve::cpu {
namespace {

// The metadata vectors, checked against each other and against the cache.
struct Pages {
  const int32_t* query_start;      // [num_seqs + 1]
  const int32_t* query_positions;  // [T]
  const int32_t* page_start;       // [num_seqs + 1]
  const int32_t* first_slot;       // [P]
  const int32_t* first_position;   // [P]
  const int32_t* num_tokens;       // [P]
};

void CheckMonotone(const int32_t* starts, int32_t n, int64_t limit, const char* name) {
  CHECK_GE(starts[0], 0) << name << "[0]";
  for (int32_t s = 0; s < n; ++s) {
    CHECK_LE(starts[s], starts[s + 1]) << name << " decreases at " << s;
  }
  CHECK_LE(starts[n], limit) << name << " runs past " << limit;
}

Pages ReadPages(const AttentionMetadata& meta, int64_t num_tokens, const CacheView& cache) {
  CHECK_GE(meta.num_seqs, 0);
  Pages p;
  p.query_start = I32Vector(meta.query_start, meta.num_seqs + 1, "query_start");
  p.query_positions = I32Vector(meta.query_positions, num_tokens, "query_positions");
  p.page_start = I32Vector(meta.page_start, meta.num_seqs + 1, "page_start");
  p.first_slot = I32Vector(meta.page_first_slot, -1, "page_first_slot");
  const int64_t num_pages = meta.page_first_slot.dim(0);
  p.first_position = I32Vector(meta.page_first_position, num_pages, "page_first_position");
  p.num_tokens = I32Vector(meta.page_num_tokens, num_pages, "page_num_tokens");
  CheckMonotone(p.query_start, meta.num_seqs, num_tokens, "query_start");
  CheckMonotone(p.page_start, meta.num_seqs, num_pages, "page_start");
  for (int64_t i = 0; i < num_pages; ++i) {
    CHECK(p.first_slot[i] >= 0 && p.num_tokens[i] >= 0 &&
          int64_t{p.first_slot[i]} + p.num_tokens[i] <= cache.num_slots())
        << "page " << i << " slots [" << p.first_slot[i] << ", +" << p.num_tokens[i]
        << ") outside the cache's " << cache.num_slots();
  }
  return p;
}

void CheckShape(const AttentionShape& shape, const RowView<float>& q, const CacheView& k) {
  CHECK(shape.num_q_heads >= 0 && shape.head_dim > 0 && shape.group_size > 0 &&
        shape.q_head_offset >= 0)
      << "bad AttentionShape";
  CHECK_EQ(q.cols, int64_t{shape.num_q_heads} * shape.head_dim) << "Attention q width";
  CHECK(k.num_heads == shape.num_kv_heads && k.head_dim == shape.head_dim)
      << "Attention cache [" << k.num_heads << " heads, " << k.head_dim << "] vs shape ["
      << shape.num_kv_heads << ", " << shape.head_dim << "]";
  if (shape.num_q_heads > 0) {
    CHECK_LT((shape.q_head_offset + shape.num_q_heads - 1) / shape.group_size, shape.num_kv_heads)
        << "query heads read past the last K/V head";
  }
}

// One query head's work: its vector, the K/V head it reads and the positions it may see.
struct Query {
  const float* q;  // [D]
  int64_t kv_head;
  int64_t min_pos;  // visible keys have min_pos <= position <= max_pos
  int64_t max_pos;
};

Query MakeQuery(const float* q, int64_t kv_head, int32_t position, int32_t window) {
  // Positions are I32, so the I32 minimum admits every key without overflow below.
  const int64_t min_pos =
      window > 0 ? int64_t{position} - window + 1 : int64_t{std::numeric_limits<int32_t>::min()};
  return Query{q, kv_head, min_pos, position};
}

// Calls fn(k_row, v_row) for every visible key of sequence s, pages in metadata order.
template <typename Fn>
void ForEachVisibleKey(const Pages& p, int32_t s, const Query& query, const CacheView& k,
                       const CacheView& v, Fn fn) {
  for (int32_t page = p.page_start[s]; page < p.page_start[s + 1]; ++page) {
    const int64_t first = p.first_position[page];
    const int64_t begin = std::max<int64_t>(0, query.min_pos - first);
    const int64_t end = std::min<int64_t>(p.num_tokens[page], query.max_pos - first + 1);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t slot = p.first_slot[page] + i;
      fn(k.head(slot / k.block_size, slot % k.block_size, query.kv_head),
         v.head(slot / v.block_size, slot % v.block_size, query.kv_head));
    }
  }
}

float Dot(const float* a, const float* b, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// Softmax-weighted sum of V over the visible keys, into out [D]; returns the log-sum-exp.
// Pass one scores every key and finds the max; pass two visits the keys in the same order.
float AttendOne(const Pages& p, int32_t s, const Query& query, const CacheView& k,
                const CacheView& v, float scale, std::vector<float>& scores, float* out) {
  const int64_t dim = k.head_dim;
  scores.clear();
  float max_score = -std::numeric_limits<float>::infinity();
  ForEachVisibleKey(p, s, query, k, v, [&](const float* key, const float*) {
    scores.push_back(scale * Dot(query.q, key, dim));
    max_score = std::max(max_score, scores.back());
  });
  std::fill_n(out, dim, 0.0f);
  if (scores.empty()) return -std::numeric_limits<float>::infinity();
  float sum = 0.0f;
  size_t next = 0;
  ForEachVisibleKey(p, s, query, k, v, [&](const float*, const float* value) {
    const float w = std::exp(scores[next++] - max_score);
    sum += w;
    for (int64_t i = 0; i < dim; ++i) out[i] += w * value[i];
  });
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < dim; ++i) out[i] *= inv;
  return max_score + std::log(sum);
}

}  // namespace

void Attention(const Tensor& q, const KvLayer& cache, const AttentionMetadata& meta,
               const AttentionShape& shape, const Tensor& out, const Tensor& lse) {
  const RowView<float> queries = F32Rows(q, "Attention q");
  const RowView<float> dst = F32Rows(out, "Attention out");
  CheckSameShape(queries, dst, "Attention q", "out");
  const CacheView k = Cache(cache.k, "Attention k cache");
  const CacheView v = Cache(cache.v, "Attention v cache");
  CHECK(k.num_blocks == v.num_blocks && k.block_size == v.block_size &&
        k.num_heads == v.num_heads && k.head_dim == v.head_dim)
      << "Attention K and V caches differ in shape";
  CheckShape(shape, queries, k);
  RowView<float> lse_rows;
  if (!lse.empty()) {
    lse_rows = F32Rows(lse, "Attention lse");
    CHECK(lse_rows.rows == queries.rows && lse_rows.cols == shape.num_q_heads)
        << "Attention lse " << lse.ShapeString();
  }
  const Pages pages = ReadPages(meta, queries.rows, k);
  const int64_t dim = shape.head_dim;
  std::vector<float> scores;
  for (int32_t s = 0; s < meta.num_seqs; ++s) {
    for (int32_t t = pages.query_start[s]; t < pages.query_start[s + 1]; ++t) {
      for (int32_t h = 0; h < shape.num_q_heads; ++h) {
        const Query query =
            MakeQuery(queries.row(t) + h * dim, (shape.q_head_offset + h) / shape.group_size,
                      pages.query_positions[t], shape.sliding_window);
        const float l = AttendOne(pages, s, query, k, v, shape.scale, scores, dst.row(t) + h * dim);
        if (lse_rows.data != nullptr) lse_rows.row(t)[h] = l;
      }
    }
  }
}

}  // namespace tspserve::cpu
