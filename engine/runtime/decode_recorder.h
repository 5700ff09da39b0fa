// DecodeRecorder: how each decode step runs when the executor records decode steps
// (ExecutorOptions::decode_graphs). A decode-only step gets fixed upload shapes (page room and
// keys per sequence rounded up to powers of two), so that steps of the same token count share
// one recording of the layers; per (tokens, shapes) the first step runs eagerly and grows every
// buffer, the next is recorded, the rest replay it, and a rank's buffers moving sends the shape
// back to a warm-up. Decisions are made once for all ranks (a rank recording a collective its
// peers run would stall them).
#pragma once

#include <cstdint>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/parallel/rank_step.h"

namespace tspserve {

// Every rank's (model memory, backend workspace) generations.
using MemoryGenerations = std::vector<std::pair<uint64_t, uint64_t>>;

class DecodeRecorder {
 public:
  // Decode steps of more tokens than this run eagerly with dynamic shapes.
  static constexpr int32_t kMaxRecordedTokens = 512;
  // Recordings made at most (each holds device and NCCL resources); later shapes run eagerly.
  static constexpr int32_t kMaxRecordings = 128;

  // can_record: every rank's backend records and no collective is staged through the host; if
  // not, steps still get fixed shapes but always run eagerly.
  explicit DecodeRecorder(bool can_record) : can_record_(can_record) {}

  // Sets recording and fixed_shapes of every rank's step when the plan is decode-only.
  // `generations`: after the step's memory was reserved.
  void Plan(const BatchPlan& plan, std::vector<RankStep>& steps, const MemoryGenerations& generations);
  // After the steps ran: the generations they left, and whether every rank succeeded.
  void Finished(const std::vector<RankStep>& steps, const MemoryGenerations& generations, bool ok);

 private:
  using Key = std::tuple<int64_t, int64_t, int64_t>;  // tokens, page room, keys per sequence
  struct Shape {
    bool warm = false;      // an eager step grew the buffers at these generations
    bool recorded = false;  // and a recording was made at them
    MemoryGenerations generations;
  };
  static Key KeyOf(const RankStep& step);

  const bool can_record_;
  std::map<Key, Shape> shapes_;
  MemoryGenerations planned_generations_;  // the last Plan's
  int32_t recorded_shapes_ = 0;
};

}  // namespace tspserve
