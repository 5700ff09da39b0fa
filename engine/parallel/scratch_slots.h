// The step-memory slots the parallel schedules use (LlamaModel::Scratch). One name per live
// buffer, so that no two tensors alive at the same time share memory.
#pragma once

namespace tspserve {

enum ScratchSlot : int {
  kResidual,       // [T, H] the residual stream
  kNormed,         // [T, H] its normalised copy
  kBlockOut,       // [T, H] an attention or MLP block's output
  kQkv,            // [T, qkv columns] the fused projection
  kAttn,           // [T, n_q D] attention output of the rank's heads
  kGateUp,         // [T, 2 I_s]
  kMlpAct,         // [T, I_s]
  kQRecv, kQAll,                   // the fused q/k/v all-gather, q of every head
  kKvSend, kKAll, kVAll,           // k/v all-gathers
  kPartial, kLse,                  // split-KV partial outputs and log-sum-exps
  kPartialSend, kPartialRecv, kLseSend, kLseRecv,
  kWeightShardA, kWeightShardB,    // broadcast attention shards, double-buffered (bytes)
  kRingA, kRingB,                  // the MLP ring's two shard buffers (bytes)
  kEmbedAll,                       // [T_r, H] embeddings of one rank's tokens
  kHiddenLocal, kHidden,           // final hidden rows that want logits
  kLogits, kGatheredLogits,
  kRaceParams, kTemperatures,      // device sampling: (seed, step) [R, 2] I64 and temperatures [R]
  kRaces, kGatheredRaces,          // SampleRows results [R, 4] of this rank's vocabulary shard, of all
  kCandidates, kGatheredCandidates,  // TopCandidates results [R, 2k] likewise
  kPenaltyEntries, kPenalties,     // PenalizeLogits' entries [E, 3] I32 and per-row penalties [R, 3]
  kPenalizedLogits,                // [R, shard_cols] the logits with penalties applied
  kSearchQueries, kSearchScales,   // a nucleus search round's KeyHistogram queries [R, 2] I64, scales [R, 2]
  kHistograms, kGatheredHistograms,  // its histograms [R, 512] of this rank's shard, of all
  kMaskThresholds,                 // MaskLogits' thresholds [R] I64
  kRawTemperatures,                // raw_logprobs steps: zeros [R] (the raw logits' log-sum-exps need no race)
  kRawRaces, kGatheredRawRaces,    // raw_logprobs rows: SampleRows of the raw logits [R, 4], of all
  kRawCandidates, kGatheredRawCandidates,  // their TopCandidates [R, 2k], of all
  kPickIndices, kPicked, kGatheredPicked,  // the raw_logprobs rows' token elements [R] I32, their raw logits [R, 1], of all
  kNumScratchSlots
};

}  // namespace tspserve
