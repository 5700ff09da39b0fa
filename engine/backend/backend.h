// Backend: the op set one rank needs to run a decoder layer. The CPU backend (cpu/) computes in
// fp32 with OpenBLAS and is the reference; the CUDA backend (cuda/) computes in bf16 with fp32
// accumulation. Ops are asynchronous with respect to the host on devices that allow it; Synchronize()
// waits. All tensors passed to an op live on this backend's device. Shapes are stated per op;
// "[T, n*D]" means a 2-D tensor whose rows may be strided (a column view of a fused projection).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "engine/backend/attention_metadata.h"
#include "engine/tensor/allocator.h"
#include "engine/tensor/buffer.h"
#include "engine/tensor/tensor.h"

namespace tspserve {

// The K/V cache of one layer on one rank: two views of shape [num_blocks, block_size, n_kv, head_dim].
struct KvLayer {
  Tensor k;
  Tensor v;
};

struct BlockCopyOp {
  int32_t src_block;
  int32_t dst_block;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  virtual Device device() const = 0;
  // The dtype of weights, activations and the KV cache (F32 on CPU, BF16 on CUDA).
  virtual DType compute_dtype() const = 0;
  virtual Allocator& allocator() = 0;
  absl::StatusOr<Buffer> Allocate(size_t bytes, MemoryKind kind) {
    return Buffer::Allocate(allocator(), bytes, kind, device());
  }

  // ---- data movement ----
  virtual void CopyFromHost(const Tensor& dst, const void* host_src) = 0;  // dst contiguous
  virtual void CopyToHost(void* host_dst, const Tensor& src) = 0;         // src contiguous
  virtual void Synchronize() = 0;
  // The native stream ops are issued on (a cudaStream_t on CUDA, null on the CPU): a device
  // communicator orders its collectives against it.
  virtual void* stream() const { return nullptr; }
  // Free and total bytes of the device's memory (zeros on the CPU, where the KV budget is explicit).
  struct MemoryInfo {
    int64_t free_bytes = 0;
    int64_t total_bytes = 0;
  };
  virtual MemoryInfo DeviceMemory() const { return {}; }

  // ---- recorded work (CUDA graphs) ----
  // Ops issued between BeginRecording() and EndRecording() on the calling thread are recorded,
  // not run (with the collectives of a device communicator ordered against stream()), and run
  // together, as often as wanted, by Replay(): one launch instead of one per op. A recording
  // holds the device addresses and launch shapes of its ops, so its caller must keep every
  // buffer it touched in place and re-record when one moves (workspace_generation() tells of
  // the backend's own). Backends that cannot record (the CPU) return false from can_record().
  class Recording {
   public:
    virtual ~Recording() = default;
    virtual void Replay() = 0;
  };
  virtual bool can_record() const { return false; }
  virtual void BeginRecording();
  // The recording; an error (and nothing recorded) when an op could not be recorded.
  virtual absl::StatusOr<std::unique_ptr<Recording>> EndRecording();
  // Changes whenever the backend reallocates a workspace its ops write (recordings made before
  // hold its old address).
  virtual uint64_t workspace_generation() const { return 0; }

  // ---- ops ----
  // out[t] = table[ids[t] - vocab_begin] when the id falls in this shard's rows, else zeros.
  // ids [T] I32; table [V_shard, H]; out [T, H].
  virtual void Embedding(const Tensor& ids, const Tensor& table, int64_t vocab_begin,
                         const Tensor& out) = 0;
  // out = x / rms(x) * weight over each group of D = weight.numel() consecutive columns: row by
  // row for x [M, D], head by head for x [M, n*D] (Qwen3's q/k norm). x, out may be row-strided
  // and out may alias x; weight [D].
  virtual void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) = 0;
  // residual += x, then out = RmsNorm(residual). residual, x, out [M, D].
  virtual void AddRmsNorm(const Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                          const Tensor& out) = 0;
  // out = x · wᵀ (+ out when accumulate). x [M, K]; w [N, K] (a checkpoint's [out, in] layout); out [M, N]
  // of compute_dtype, or F32 for an fp32 result (logits).
  virtual void MatMul(const Tensor& x, const Tensor& w, const Tensor& out, bool accumulate) = 0;
  // x[m, :] += bias. x [M, N]; bias [N].
  virtual void AddBias(const Tensor& x, const Tensor& bias) = 0;
  // a += b. Both [M, N].
  virtual void Add(const Tensor& a, const Tensor& b) = 0;
  // Rotary embedding in place, in Hugging Face's rotate-half convention: for each head, element i
  // pairs with i + D/2. x [T, n*D]; positions [T] I32; cos_sin [max_positions, D] F32 holding
  // cos for the first D/2 columns and sin for the last D/2.
  virtual void Rope(const Tensor& x, int32_t head_dim, const Tensor& positions,
                    const Tensor& cos_sin) = 0;
  // out = silu(gate_up[:, :I]) * gate_up[:, I:]. gate_up [M, 2I]; out [M, I].
  virtual void SiluMul(const Tensor& gate_up, const Tensor& out) = 0;
  // Writes each token's K and V into its cache slot (slot_mapping < 0: skipped), as the cache's
  // heads [kv_head_offset, kv_head_offset + n). k, v [T, n*D]; slot_mapping [T] I64. Under TSP a
  // rank computes K/V one weight shard (a head slice) at a time but stores all heads of its tokens.
  virtual void WriteKv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping,
                       const KvLayer& cache, int32_t kv_head_offset) = 0;
  // Causal attention of each query over its sequence's pages (keys at positions <= the query's).
  // q [T, n_q*D]; out [T, n_q*D]; lse [T, n_q] F32 log-sum-exp of the scaled scores, or an empty
  // tensor when not wanted. A query with no visible key writes zeros and lse = -inf.
  virtual void Attention(const Tensor& q, const KvLayer& cache, const AttentionMetadata& meta,
                         const AttentionShape& shape, const Tensor& out, const Tensor& lse) = 0;
  // The sampling race (engine/common/race_key.h) over one vocabulary shard of fp32 logits
  // [R, C] (rows may be strided): columns [0, valid_cols) count, column c being token
  // id_offset + c. races I64 [R, 2] holds each row's (seed, step), temperatures F32 [R] its
  // temperature. Each column's key is its logit when the temperature is 0, else
  //   (double)logit / T - log(-log(u)),  u = ((h >> 11) + 0.5) * 2^-53,
  //   h = Mix(Mix(seed ^ Mix(step * 0x9E3779B97F4A7C15 + 0xD1B54A32D192ED03)) + id * 0x9E3779B97F4A7C15)
  // with Mix the SplitMix64 finalizer of FillRandom and the key computed in double. out F32 [R, 4]
  // per row: (the winner's logit, the winner's id (largest key, lowest id on ties), log-sum-exp
  // of the logits, log-sum-exp of logits / T (of the logits when T is 0)); a row with no valid
  // column gets (-inf, -1, -inf, -inf). Results of several shards merge exactly on the host
  // (engine/sampling/shard_sample.h). Temperature 0 everywhere is the greedy pick.
  virtual void SampleRows(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                          const Tensor& races, const Tensor& temperatures, const Tensor& out) = 0;
  // Repetition, frequency and presence penalties and banned tokens, in place on one vocabulary
  // shard of fp32 logits [R, C] (rows may be strided; column c is token id_offset + c, columns
  // [0, valid_cols) count). entries I32 [E, 3] holds (row, token id, count), one entry per
  // distinct (row, id); ids outside this shard are skipped. penalties F32 [R, 3] holds each row's
  // (repetition, frequency, presence). For an entry with count < 0 the logit becomes -inf (a
  // banned token); otherwise, as engine/sampling/penalties.h applies them, the logit x becomes
  // x / repetition when x > 0, else x * repetition, and then, when count > 0 (occurrences in the
  // output), x - frequency * count - presence.
  virtual void PenalizeLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                              const Tensor& entries, const Tensor& penalties) = 0;
  // The k most likely columns of each row of fp32 logits [R, C] (rows may be strided, columns
  // [0, valid_cols) count, column c is token id_offset + c): out F32 [R, 2k] holds (logit, id)
  // pairs, larger logit first and lower id first among equal logits; pairs past the valid
  // columns are (-inf, -1). Top-k, top-p, min-p and logprobs of a vocabulary-sharded head are
  // decided from the shards' candidates (engine/sampling/shard_sample.h).
  virtual void TopCandidates(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                             const Tensor& out) = 0;
  // One round of the search for a wide kept set (engine/sampling/nucleus_search.h): per row of
  // one vocabulary shard of fp32 logits [R, C] (rows may be strided; column c is token
  // id_offset + c, columns [0, valid_cols) count), a histogram of the 8-bit digit at bit `shift`
  // of the rank keys (engine/common/rank_key.h) of the columns whose key agrees with `prefix` in
  // every bit above that digit (all columns when shift is 56). queries I64 [R, 2] holds each
  // row's (prefix, shift); a row with shift < 0 is skipped (its out is zeros). scales F32 [R, 2]
  // holds (m, T). out F32 [R, 512]: out[r][b] the count of such columns with digit b, and
  // out[r][256 + b] their mass, the sum of exp(((double)logit - m) / T), summed in double. Columns
  // whose logit is -inf count nowhere.
  virtual void KeyHistogram(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& queries,
                            const Tensor& scales, const Tensor& out) = 0;
  // In place on one vocabulary shard of fp32 logits [R, C] (as KeyHistogram): every column whose
  // rank key is below its row's threshold (thresholds I64 [R], compared as unsigned) becomes
  // -inf. Threshold 0 keeps the whole row.
  virtual void MaskLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset,
                          const Tensor& thresholds) = 0;
  // dst = src. Both [M, N], either may be row-strided (moving column blocks between layouts).
  virtual void Copy(const Tensor& dst, const Tensor& src) = 0;
  // Exact softmax merge of S partial attentions over disjoint key sets (split-KV): for each token
  // and head, out = sum_s exp(lse_s - m) * partial_s / sum_s exp(lse_s - m), m = max_s lse_s.
  // partials [S, T, n*D]; lse [S, T, n] F32 (-inf: no keys); out [T, n*D] (zeros if all -inf).
  virtual void CombineAttention(const Tensor& partials, const Tensor& lse, const Tensor& out) = 0;
  // out[i] = x[rows[i]]. x [T, H]; rows [S] I32; out [S, H].
  virtual void GatherRows(const Tensor& x, const Tensor& rows, const Tensor& out) = 0;
  // Fills t (compute_dtype, contiguous) with values uniform in [-scale, scale): element i gets
  // (2u - 1) * scale, u = (SplitMix64(seed + i * 0x9E3779B97F4A7C15) >> 40) * 2^-24, with
  // SplitMix64(x): x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9; x = (x ^ (x >> 27)) * 0x94D049BB133111EB;
  // x ^ (x >> 31). The same on every backend (up to rounding to compute_dtype), so benchmarks make
  // shape-only models on the device without checkpoint files.
  virtual void FillRandom(const Tensor& t, uint64_t seed, float scale) = 0;
  // Copies whole blocks of every given layer's cache (copy-on-write after a fork).
  virtual void CopyBlocks(std::span<const KvLayer> layers, std::span<const BlockCopyOp> copies) = 0;
  // Converts F32 host data into a tensor of compute_dtype on the device.
  virtual void UploadFloat(const Tensor& dst, const float* host_src);
  // Converts a device tensor of compute_dtype to F32 host data.
  virtual void DownloadFloat(float* host_dst, const Tensor& src);
};

// The CPU reference backend (always built).
std::unique_ptr<Backend> MakeCpuBackend();

}  // namespace tspserve
