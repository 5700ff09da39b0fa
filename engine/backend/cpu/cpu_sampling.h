// The sampling ops on the CPU (Backend::SampleRows, PenalizeLogits, TopCandidates, KeyHistogram,
// MaskLogits): the reference the CUDA kernels are tested against.
#pragma once

#include <cstdint>

#include "engine/tensor/tensor.h"

namespace tspserve::cpu {

// Backend::SampleRows. logits F32 [R, C] (row-strided); races I64 [R, 2]; temperatures F32 [R];
// out F32 [R, 4].
void SampleRows(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& races,
                const Tensor& temperatures, const Tensor& out);

// Backend::PenalizeLogits. logits F32 [R, C] (row-strided); entries I32 [E, 3]; penalties F32 [R, 3].
void PenalizeLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& entries,
                    const Tensor& penalties);

// Backend::TopCandidates. logits F32 [R, C] (row-strided); out F32 [R, 2k].
void TopCandidates(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& out);

// Backend::KeyHistogram. logits F32 [R, C] (row-strided); queries I64 [R, 2]; scales F32 [R, 2];
// out F32 [R, 512].
void KeyHistogram(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& queries,
                  const Tensor& scales, const Tensor& out);

// Backend::MaskLogits. logits F32 [R, C] (row-strided); thresholds I64 [R].
void MaskLogits(const Tensor& logits, int64_t valid_cols, int64_t id_offset, const Tensor& thresholds);

}  // namespace tspserve::cpu
