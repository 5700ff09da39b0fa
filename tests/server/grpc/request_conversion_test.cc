// Wire <-> engine conversion without a server: defaults of unset fields, field-named errors, and
// how one engine output becomes Chunk and Complete messages.
#include "server/grpc/request_conversion.h"

#include <gtest/gtest.h>

#include "tests/server/grpc/test_server.h"

namespace tspserve {
namespace {

class RequestConversionTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto tokenizer = Tokenizer::FromFile(TinyModelDir() + "/tokenizer.json");
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = tokenizer->release();
    auto config = LoadModelConfig(TinyModelDir());
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = new ModelConfig(*config);
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete config_;
  }
  static absl::StatusOr<GenerateRequest> Convert(const v1::GenerateRequest& r) {
    return ToEngineRequest(r, *tokenizer_, *config_);
  }
  static Tokenizer* tokenizer_;
  static ModelConfig* config_;
};

Tokenizer* RequestConversionTest::tokenizer_ = nullptr;
ModelConfig* RequestConversionTest::config_ = nullptr;

TEST_F(RequestConversionTest, UnsetFieldsTakeVllmDefaults) {
  v1::GenerateRequest wire;
  wire.mutable_token_ids()->add_ids(3);
  absl::StatusOr<GenerateRequest> r = Convert(wire);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->prompt_tokens, std::vector<int32_t>{3});
  EXPECT_FLOAT_EQ(r->sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 1.0f);
  EXPECT_EQ(r->sampling.top_k, 0);
  EXPECT_FLOAT_EQ(r->sampling.repetition_penalty, 1.0f);
  EXPECT_FALSE(r->sampling.seed.has_value());
  EXPECT_EQ(r->stopping.max_tokens, 16);
  EXPECT_EQ(r->stopping.eos_token_ids, config_->eos_token_ids);
  EXPECT_FALSE(r->stopping.ignore_eos);
  EXPECT_FALSE(r->deadline.has_value());
}

TEST_F(RequestConversionTest, SetFieldsAreCopied) {
  v1::GenerateRequest wire;
  wire.set_text("abc");
  wire.set_add_special_tokens(false);
  v1::SamplingParams* s = wire.mutable_sampling();
  s->set_temperature(0);  // an explicit 0 differs from unset
  s->set_top_p(0.5f);
  s->set_top_k(7);
  s->set_min_p(0.1f);
  s->set_repetition_penalty(1.2f);
  s->set_presence_penalty(-1);
  s->set_frequency_penalty(0.5f);
  s->set_seed(0);
  s->set_n(1);
  wire.set_logprobs(4);
  v1::StoppingCriteria* stop = wire.mutable_stopping();
  stop->set_max_tokens(3);
  stop->set_min_tokens(2);
  stop->add_stop("x");
  stop->add_stop_token_ids(9);
  stop->set_ignore_eos(true);
  stop->set_include_stop_in_output(true);
  absl::StatusOr<GenerateRequest> r = Convert(wire);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->prompt_tokens, tokenizer_->Encode("abc", false));
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 0.5f);
  EXPECT_EQ(r->sampling.top_k, 7);
  EXPECT_FLOAT_EQ(r->sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(r->sampling.repetition_penalty, 1.2f);
  EXPECT_FLOAT_EQ(r->sampling.presence_penalty, -1.0f);
  EXPECT_FLOAT_EQ(r->sampling.frequency_penalty, 0.5f);
  ASSERT_TRUE(r->sampling.seed.has_value());
  EXPECT_EQ(*r->sampling.seed, 0u);
  EXPECT_EQ(r->sampling.num_logprobs, 4);
  EXPECT_EQ(r->stopping.max_tokens, 3);
  EXPECT_EQ(r->stopping.min_tokens, 2);
  EXPECT_EQ(r->stopping.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(r->stopping.stop_token_ids, std::vector<int32_t>{9});
  EXPECT_TRUE(r->stopping.ignore_eos);
  EXPECT_TRUE(r->stopping.include_stop_in_output);
}

TEST_F(RequestConversionTest, TokenIdsAtTheVocabularyEdges) {
  v1::GenerateRequest wire;
  wire.mutable_token_ids()->add_ids(0);
  wire.mutable_token_ids()->add_ids(static_cast<int32_t>(config_->vocab_size - 1));
  EXPECT_TRUE(Convert(wire).ok());
  wire.mutable_token_ids()->add_ids(static_cast<int32_t>(config_->vocab_size));
  absl::StatusOr<GenerateRequest> r = Convert(wire);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("token_ids[2]"), absl::string_view::npos) << r.status();
}

TEST_F(RequestConversionTest, AMidStreamOutputIsOneChunk) {
  RequestOutput out;
  out.token_ids = {4, 5};
  out.text = "ab";
  std::vector<v1::GenerateResponse> responses = ToResponses(out, "r1");
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].request_id(), "r1");
  ASSERT_TRUE(responses[0].has_chunk());
  EXPECT_EQ(responses[0].chunk().token_ids_size(), 2);
  EXPECT_EQ(responses[0].chunk().text(), "ab");
  EXPECT_EQ(responses[0].chunk().logprobs_size(), 0);
  // A delta with neither tokens nor text (held back by the stop checker) sends nothing.
  EXPECT_TRUE(ToResponses(RequestOutput(), "r1").empty());
}

TEST_F(RequestConversionTest, TheFinalOutputIsAChunkThenComplete) {
  RequestOutput out;
  out.token_ids = {7};
  out.text = "z";
  out.finished = true;
  out.finish_reason = FinishReason::kStop;
  out.matched_stop = "z";
  out.prompt_tokens = 5;
  out.completion_tokens = 9;
  out.num_preemptions = 2;
  out.timings = {0.5, 0.75, 1.25};
  std::vector<v1::GenerateResponse> responses = ToResponses(out, "r2");
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_TRUE(responses[0].has_chunk());
  ASSERT_TRUE(responses[1].has_complete());
  const v1::Complete& c = responses[1].complete();
  EXPECT_EQ(responses[1].request_id(), "r2");
  EXPECT_EQ(c.finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(c.matched_stop(), "z");
  EXPECT_EQ(c.usage().prompt_tokens(), 5);
  EXPECT_EQ(c.usage().completion_tokens(), 9);
  EXPECT_EQ(c.usage().cached_tokens(), 0);
  EXPECT_EQ(c.num_preemptions(), 2);
  EXPECT_DOUBLE_EQ(c.timings().queued(), 0.5);
  EXPECT_DOUBLE_EQ(c.timings().first_scheduled(), 0.5);
  EXPECT_DOUBLE_EQ(c.timings().first_token(), 0.75);
  EXPECT_DOUBLE_EQ(c.timings().finished(), 1.25);
  EXPECT_TRUE(c.error().empty());

  RequestOutput error;
  error.finished = true;
  error.finish_reason = FinishReason::kError;
  error.status = absl::InternalError("boom");
  responses = ToResponses(error, "r3");
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].complete().finish_reason(), v1::FINISH_REASON_ERROR);
  EXPECT_EQ(responses[0].complete().error(), "boom");
}

TEST_F(RequestConversionTest, LogprobsKeepTheirOrder) {
  RequestOutput out;
  out.token_ids = {3};
  SampledToken token;
  token.token = 3;
  token.logprob = -0.25f;
  token.top_logprobs = {{3, -0.25f}, {8, -2.0f}};
  out.logprobs = {token};
  std::vector<v1::GenerateResponse> responses = ToResponses(out, "r");
  ASSERT_EQ(responses[0].chunk().logprobs_size(), 1);
  const v1::Logprobs& lp = responses[0].chunk().logprobs(0);
  EXPECT_EQ(lp.sampled().token_id(), 3);
  EXPECT_FLOAT_EQ(lp.sampled().logprob(), -0.25f);
  ASSERT_EQ(lp.top_size(), 2);
  EXPECT_EQ(lp.top(1).token_id(), 8);
  EXPECT_FLOAT_EQ(lp.top(1).logprob(), -2.0f);
}

TEST_F(RequestConversionTest, EveryFinishReasonHasAWireValue) {
  EXPECT_EQ(ToWireFinishReason(FinishReason::kLength), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(ToWireFinishReason(FinishReason::kCancelled), v1::FINISH_REASON_CANCELLED);
  EXPECT_EQ(ToWireFinishReason(FinishReason::kDeadlineExceeded), v1::FINISH_REASON_DEADLINE_EXCEEDED);
  EXPECT_EQ(ToWireFinishReason(FinishReason::kNone), v1::FINISH_REASON_UNSPECIFIED);
}

}  // namespace
}  // namespace tspserve
