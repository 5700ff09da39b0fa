#include "engine/sampling/sampling_params.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace tspserve {
namespace {

using ::testing::HasSubstr;

// Expects InvalidArgument whose message names `field`.
void ExpectRejected(const SamplingParams& params, const std::string& field, int32_t vocab = 100) {
  const absl::Status status = ValidateSamplingParams(params, vocab);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_THAT(std::string(status.message()), HasSubstr(field));
}

TEST(SamplingParamsTest, DefaultsAndBoundariesAreValid) {
  EXPECT_TRUE(ValidateSamplingParams({}, 1).ok());
  SamplingParams p;
  p.temperature = 0.0f;
  p.top_k = -1;
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.repetition_penalty = 1e-3f;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.num_logprobs = kMaxNumLogprobs;
  p.seed = 0;
  EXPECT_TRUE(ValidateSamplingParams(p, 100).ok());
  p.top_k = 100;
  EXPECT_TRUE(ValidateSamplingParams(p, 100).ok());
  p.top_k = 0;
  p.top_p = 1e-6f;
  p.min_p = 0.0f;
  EXPECT_TRUE(ValidateSamplingParams(p, 100).ok());
}

TEST(SamplingParamsTest, EachFieldOutOfRangeIsNamed) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (float bad : {-0.1f, nan, inf}) {
    SamplingParams p;
    p.temperature = bad;
    ExpectRejected(p, "temperature");
  }
  for (float bad : {0.0f, -0.5f, 1.0001f, nan}) {
    SamplingParams p;
    p.top_p = bad;
    ExpectRejected(p, "top_p");
  }
  for (float bad : {-0.01f, 1.01f, nan}) {
    SamplingParams p;
    p.min_p = bad;
    ExpectRejected(p, "min_p");
  }
  for (float bad : {0.0f, -1.0f, nan, inf}) {
    SamplingParams p;
    p.repetition_penalty = bad;
    ExpectRejected(p, "repetition_penalty");
  }
  for (float bad : {-2.01f, 2.01f, nan}) {
    SamplingParams p;
    p.presence_penalty = bad;
    ExpectRejected(p, "presence_penalty");
    SamplingParams q;
    q.frequency_penalty = bad;
    ExpectRejected(q, "frequency_penalty");
  }
  for (int32_t bad : {-2, 101}) {
    SamplingParams p;
    p.top_k = bad;
    ExpectRejected(p, "top_k");
  }
  for (int32_t bad : {-1, kMaxNumLogprobs + 1}) {
    SamplingParams p;
    p.num_logprobs = bad;
    ExpectRejected(p, "num_logprobs");
  }
  SamplingParams small_vocab;
  small_vocab.num_logprobs = 5;
  ExpectRejected(small_vocab, "num_logprobs", 4);
  ExpectRejected({}, "vocab_size", 0);
}

TEST(SamplingParamsTest, MessageStatesTheAllowedRange) {
  SamplingParams p;
  p.top_p = 2.0f;
  EXPECT_THAT(std::string(ValidateSamplingParams(p, 10).message()), HasSubstr("(0, 1]"));
}

}  // namespace
}  // namespace tspserve
