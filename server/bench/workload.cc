#include "server/bench/workload.h"

namespace tspserve::bench {
namespace {

// Weights per layer that every token multiplies (q, k, v, o and the gated MLP).
double LayerMatrixWeights(const ModelConfig& c) {
  const double h = static_cast<double>(c.hidden_size), d = static_cast<double>(c.head_dim);
  const double q = static_cast<double>(c.num_heads) * d, kv = static_cast<double>(c.num_kv_heads) * d;
  return h * (q + 2 * kv) + q * h + 3 * h * static_cast<double>(c.intermediate_size);
}

double KvBytesPerToken(const ModelConfig& c, int dtype_bytes) {
  return 2.0 * static_cast<double>(c.num_layers * c.num_kv_heads * c.head_dim) * dtype_bytes;
}

}  // namespace

double WeightBytes(const ModelConfig& c, int dtype_bytes) {
  const double vocab = static_cast<double>(c.vocab_size) * static_cast<double>(c.hidden_size);
  const double layers = static_cast<double>(c.num_layers) * LayerMatrixWeights(c);
  return (layers + vocab * (c.tie_word_embeddings ? 1 : 2)) * dtype_bytes;
}

Workload PrefillWork(const ModelConfig& c, int64_t tokens, int32_t degree, int dtype_bytes) {
  const double t = static_cast<double>(tokens), layers = static_cast<double>(c.num_layers);
  const double qd = static_cast<double>(c.num_heads * c.head_dim);
  double pairs = t * (t + 1) / 2;  // causal query-key pairs
  if (c.sliding_window.has_value() && *c.sliding_window > 0 && *c.sliding_window < tokens) {
    const double w = static_cast<double>(*c.sliding_window);
    pairs = w * (w + 1) / 2 + (t - w) * w;
  }
  Workload work;
  work.flops = layers * (2 * t * LayerMatrixWeights(c) + 4 * qd * pairs) +
               2.0 * static_cast<double>(c.hidden_size * c.vocab_size);
  work.bytes = WeightBytes(c, dtype_bytes) + t * KvBytesPerToken(c, dtype_bytes);
  work.flops /= degree;
  work.bytes /= degree;
  return work;
}

Workload DecodeWork(const ModelConfig& c, int64_t batch, int64_t context, int32_t degree,
                    int dtype_bytes) {
  const double b = static_cast<double>(batch), keys = static_cast<double>(context + 1);
  const double layers = static_cast<double>(c.num_layers);
  const double qd = static_cast<double>(c.num_heads * c.head_dim);
  Workload work;
  work.flops = b * (layers * (2 * LayerMatrixWeights(c) + 4 * qd * keys) +
                    2.0 * static_cast<double>(c.hidden_size * c.vocab_size));
  work.bytes = WeightBytes(c, dtype_bytes) + b * keys * KvBytesPerToken(c, dtype_bytes);
  work.flops /= degree;
  work.bytes /= degree;
  return work;
}

}  // namespace tspserve::bench
