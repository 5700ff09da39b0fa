// The two GPU steps of the search for a kept set wider than the candidates (a top-p or top-k
// set; Backend::KeyHistogram and Backend::MaskLogits): a per-row histogram of one 8-bit digit of
// the tokens' rank keys with the count and probability mass behind each digit, so the host
// narrows the cut a byte a round from 512 numbers per row; then the cut itself, in place, once
// the threshold key is known.
//
// The rank key of column c holding logit x (engine/common/rank_key.h; kernels/ cannot include
// engine/, so nucleus.cu restates it):
//   key = OrderedBits(x) << 32 | (0xFFFFFFFF - (uint32)(id_offset + c))
//   OrderedBits(x): the float's bits (-0 read as +0), sign bit set for x >= 0, all bits flipped
//                   for x < 0,
// descending in (larger logit, then lower id). Both ops assume no NaN logits.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tspserve::kernels {

// Columns of a KeyHistogram output row: 256 counts, then 256 masses.
inline constexpr int64_t kKeyHistogramWidth = 512;

// logits fp32 [rows, row_stride]; only columns [0, valid_cols) count, column c being token
// id_offset + c. queries [rows, 2] contiguous holds each row's (prefix, shift), prefix read as
// uint64; scales fp32 [rows, 2] contiguous its (m, T). For a row with 0 <= shift <= 56, the columns
// counted are those whose logit is not -inf and, when shift < 56, whose key agrees with prefix
// above bit shift + 8: (key >> (shift + 8)) == (prefix >> (shift + 8)). out fp32 [rows, 512]
// contiguous: out[r][b] the number of counted columns with digit (key >> shift) & 255 == b,
// out[r][256 + b] the sum of their exp(((double)logit - m) / T) (the division as a product with
// 1 / T, within rounding), summed in double in a fixed order, then rounded to float. A row with shift < 0 (skipped) or shift > 56 gets zeros. Shifts
// that are not multiples of 8 work but are outside Backend's contract. Counts are exact below 2^24.
struct KeyHistogramArgs {
  const float* logits = nullptr;
  int64_t row_stride = 0;  // elements
  int64_t rows = 0;
  int64_t valid_cols = 0;
  int64_t id_offset = 0;
  const int64_t* queries = nullptr;
  const float* scales = nullptr;
  float* out = nullptr;
  // Scratch of KeyHistogramWorkspaceBytes(rows, valid_cols): a row is split over several blocks
  // whose partial histograms are summed in a fixed order (so the masses do not depend on timing).
  void* workspace = nullptr;
};
size_t KeyHistogramWorkspaceBytes(int64_t rows, int64_t valid_cols);
cudaError_t LaunchKeyHistogram(const KeyHistogramArgs& args, cudaStream_t stream);

// In place on logits fp32 [rows, row_stride]: column c < valid_cols (token id_offset + c) whose
// key is below its row's threshold (thresholds [rows] contiguous, read as uint64) becomes -inf;
// everything else is left untouched. Threshold 0 keeps the row; all ones masks every valid
// column (only a NaN logit's key could reach it).
struct MaskLogitsArgs {
  float* logits = nullptr;
  int64_t row_stride = 0;  // elements
  int64_t rows = 0;
  int64_t valid_cols = 0;
  int64_t id_offset = 0;
  const int64_t* thresholds = nullptr;
};
cudaError_t LaunchMaskLogits(const MaskLogitsArgs& args, cudaStream_t stream);

}  // namespace tspserve::kernels
