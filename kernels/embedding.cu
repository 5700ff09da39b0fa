#include "kernels/embedding.h"

#include "kernels/row_gather.cuh"

namespace tspserve::kernels {

cudaError_t LaunchEmbedding(const EmbeddingArgs& args, cudaStream_t stream) {
  constexpr int64_t kBytes = sizeof(__nv_bfloat16);
  RowGather g;
  g.dst = args.out;
  g.dst_pitch = args.out_row_stride * kBytes;
  g.src = args.table;
  g.src_pitch = args.table_row_stride * kBytes;
  g.src_rows = args.vocab_rows;
  g.index = args.ids;
  g.index_offset = args.vocab_begin;
  g.rows = args.num_tokens;
  g.row_bytes = args.hidden * kBytes;
  if (g.rows > 0 && g.index == nullptr) return cudaErrorInvalidValue;
  // An empty shard has no rows to read; every token gets zeros.
  if (g.src == nullptr && g.src_rows == 0) g.src = args.out;
  return LaunchRowGather(g, stream);
}

}  // namespace tspserve::kernels
