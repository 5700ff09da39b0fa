#include "models/config/model_config.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tspserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

// Config texts as published on the Hugging Face hub (unused fields kept).
constexpr char kLlama3[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.42.3", "use_cache": true, "vocab_size": 128256})";

constexpr char kLlama2[] = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 11008, "max_position_embeddings": 4096, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null,
  "tie_word_embeddings": false, "torch_dtype": "float16",
  "transformers_version": "4.31.0.dev0", "use_cache": true, "vocab_size": 32000})";

constexpr char kMistral[] = R"({
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": true,
  "vocab_size": 32000})";

constexpr char kQwen2[] = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 896,
  "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 32768,
  "max_window_layers": 21, "model_type": "qwen2", "num_attention_heads": 14,
  "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 151936})";

constexpr char kQwen2Generation[] = R"({
  "bos_token_id": 151643, "pad_token_id": 151643, "do_sample": true,
  "eos_token_id": [151645, 151643], "repetition_penalty": 1.05, "temperature": 0.7,
  "top_p": 0.8, "top_k": 20, "transformers_version": "4.37.0"})";

constexpr char kQwen3[] = R"({
  "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
  "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 3072,
  "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
  "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000,
  "sliding_window": null, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 151936})";

absl::StatusOr<ModelConfig> Parse(const std::string& config, const std::string& generation = "") {
  return ParseModelConfig(config, generation, "models/m");
}

// kLlama2 with `edit` applied (null values erase the key).
std::string Llama2With(const Json& edit) {
  Json j = Json::parse(kLlama2);
  j.merge_patch(edit);
  return j.dump();
}

// Asserts that parsing fails with `code` and a message holding every one of `parts`.
void ExpectError(const absl::StatusOr<ModelConfig>& result, absl::StatusCode code,
                 std::initializer_list<const char*> parts) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), code) << result.status();
  for (const char* part : parts) {
    EXPECT_THAT(std::string(result.status().message()), HasSubstr(part));
  }
}

TEST(ModelConfigTest, Llama3) {
  absl::StatusOr<ModelConfig> c = Parse(kLlama3);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kLlama);
  EXPECT_EQ(c->architecture_name, "LlamaForCausalLM");
  EXPECT_EQ(c->hidden_size, 4096);
  EXPECT_EQ(c->intermediate_size, 14336);
  EXPECT_EQ(c->num_layers, 32);
  EXPECT_EQ(c->num_heads, 32);
  EXPECT_EQ(c->num_kv_heads, 8);
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->vocab_size, 128256);
  EXPECT_EQ(c->max_position_embeddings, 131072);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000);
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8);
  EXPECT_DOUBLE_EQ(c->rope_scaling.low_freq_factor, 1);
  EXPECT_DOUBLE_EQ(c->rope_scaling.high_freq_factor, 4);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_FALSE(c->o_proj_bias);
  EXPECT_FALSE(c->qk_norm);
  EXPECT_FALSE(c->sliding_window.has_value());
  EXPECT_EQ(c->bos_token_id, 128000);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(128001, 128008, 128009));
  EXPECT_EQ(c->dtype, DType::kBF16);
}

TEST(ModelConfigTest, Llama2) {
  absl::StatusOr<ModelConfig> c = Parse(kLlama2);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_kv_heads, 32);
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000);  // absent: the default
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kNone);
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2));
  EXPECT_EQ(c->dtype, DType::kF16);
}

TEST(ModelConfigTest, MistralSlidingWindow) {
  absl::StatusOr<ModelConfig> c = Parse(kMistral);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kMistral);
  EXPECT_EQ(c->sliding_window, 4096);
  EXPECT_EQ(c->num_kv_heads, 8);
  EXPECT_FALSE(c->attention_bias);

  Json null_window = Json::parse(kMistral);
  null_window["sliding_window"] = nullptr;  // Mistral v0.2+: full attention
  c = Parse(null_window.dump());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->sliding_window.has_value());

  Json absent = Json::parse(kMistral);
  absent.erase("sliding_window");  // MistralConfig's default
  c = Parse(absent.dump());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sliding_window, 4096);
}

TEST(ModelConfigTest, Qwen2TiedWithGenerationOverride) {
  absl::StatusOr<ModelConfig> c = Parse(kQwen2, kQwen2Generation);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kQwen2);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_TRUE(c->attention_bias);  // Qwen2 always has q/k/v bias
  EXPECT_FALSE(c->o_proj_bias);
  EXPECT_FALSE(c->qk_norm);
  EXPECT_FALSE(c->sliding_window.has_value());  // use_sliding_window false
  EXPECT_EQ(c->head_dim, 64);                   // 896 / 14
  EXPECT_EQ(c->num_kv_heads, 2);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_EQ(c->bos_token_id, 151643);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(151645, 151643));  // generation_config wins

  c = Parse(kQwen2);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(151645));
}

TEST(ModelConfigTest, Qwen2SlidingWindowOnEveryLayerOrNone) {
  Json j = Json::parse(kQwen2);
  j["use_sliding_window"] = true;
  j["max_window_layers"] = 0;
  absl::StatusOr<ModelConfig> c = Parse(j.dump());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sliding_window, 32768);

  j["max_window_layers"] = 24;  // no layer at or above 24: no window
  c = Parse(j.dump());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->sliding_window.has_value());

  j["max_window_layers"] = 21;  // windows on layers 21..23 only
  ExpectError(Parse(j.dump()), absl::StatusCode::kUnimplemented,
              {"models/m/config.json", "max_window_layers"});
}

TEST(ModelConfigTest, Qwen3HeadDimAndQkNorm) {
  absl::StatusOr<ModelConfig> c = Parse(kQwen3);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kQwen3);
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_NE(c->head_dim, c->hidden_size / c->num_heads);
  EXPECT_TRUE(c->qk_norm);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_FALSE(c->sliding_window.has_value());
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);  // an integer in the JSON

  Json no_head_dim = Json::parse(kQwen3);
  no_head_dim.erase("head_dim");  // Qwen3Config's default is 128, not hidden / heads
  c = Parse(no_head_dim.dump());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 128);

  Json bias = Json::parse(kQwen3);
  bias["attention_bias"] = true;
  c = Parse(bias.dump());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->attention_bias);
  EXPECT_TRUE(c->o_proj_bias);
}

TEST(ModelConfigTest, Defaults) {
  absl::StatusOr<ModelConfig> c = Parse(Llama2With({{"num_key_value_heads", nullptr},
                                                    {"rms_norm_eps", nullptr},
                                                    {"max_position_embeddings", nullptr},
                                                    {"torch_dtype", nullptr},
                                                    {"bos_token_id", nullptr},
                                                    {"eos_token_id", nullptr},
                                                    {"tie_word_embeddings", nullptr}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_kv_heads, 32);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_EQ(c->max_position_embeddings, 2048);
  EXPECT_EQ(c->dtype, DType::kF32);
  EXPECT_EQ(c->bos_token_id, 1);  // LlamaConfig's defaults
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2));
  EXPECT_FALSE(c->tie_word_embeddings);

  Json null_tokens = Json::parse(kLlama2);
  null_tokens["bos_token_id"] = nullptr;
  null_tokens["eos_token_id"] = nullptr;
  c = Parse(null_tokens.dump());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->bos_token_id.has_value());
  EXPECT_TRUE(c->eos_token_ids.empty());
}

TEST(ModelConfigTest, ArchitectureFromModelTypeWhenArchitecturesAbsent) {
  absl::StatusOr<ModelConfig> c = Parse(Llama2With({{"architectures", nullptr}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kLlama);
  EXPECT_EQ(c->architecture_name, "LlamaForCausalLM");
}

TEST(ModelConfigTest, RopeScalingSpellings) {
  absl::StatusOr<ModelConfig> c =
      Parse(Llama2With({{"rope_scaling", {{"type", "linear"}, {"factor", 2.0}}}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kLinear);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 2);

  c = Parse(Llama2With({{"rope_scaling", {{"rope_type", "default"}}}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kNone);

  Json v5 = Json::parse(kLlama3);  // transformers 5 writes rope_parameters
  v5["rope_parameters"] = v5["rope_scaling"];
  v5["rope_parameters"]["rope_theta"] = 250000.0;
  v5.erase("rope_scaling");
  v5.erase("rope_theta");
  c = Parse(v5.dump());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->rope_theta, 250000);
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kLlama3);
}

TEST(ModelConfigTest, BadJsonNamesFile) {
  ExpectError(Parse("{\"hidden_size\": 4096,"), absl::StatusCode::kInvalidArgument,
              {"models/m/config.json", "invalid JSON"});
  ExpectError(Parse("[1, 2]"), absl::StatusCode::kInvalidArgument,
              {"models/m/config.json", "object"});
  ExpectError(Parse(kLlama2, "{oops"), absl::StatusCode::kInvalidArgument,
              {"models/m/generation_config.json", "invalid JSON"});
}

TEST(ModelConfigTest, UnsupportedArchitectureListsSupported) {
  ExpectError(Parse(Llama2With({{"architectures", {"GPT2LMHeadModel"}}})),
              absl::StatusCode::kInvalidArgument,
              {"models/m/config.json", "GPT2LMHeadModel", "LlamaForCausalLM", "MistralForCausalLM",
               "Qwen2ForCausalLM", "Qwen3ForCausalLM"});
  ExpectError(Parse(Llama2With({{"architectures", Json::array()}})),
              absl::StatusCode::kInvalidArgument, {"architectures"});
  ExpectError(Parse(Llama2With({{"architectures", nullptr}, {"model_type", nullptr}})),
              absl::StatusCode::kInvalidArgument, {"model_type", "missing"});
}

TEST(ModelConfigTest, MissingMistypedAndNonPositiveFieldsNameTheField) {
  struct Case {
    Json edit;
    const char* field;
  };
  const Case cases[] = {
      {{{"hidden_size", nullptr}}, "\"hidden_size\" is missing"},
      {{{"hidden_size", "4096"}}, "\"hidden_size\" must be a positive integer, got \"4096\""},
      {{{"intermediate_size", 11008.5}}, "\"intermediate_size\" must be a positive integer"},
      {{{"num_hidden_layers", 0}}, "\"num_hidden_layers\" must be a positive integer, got 0"},
      {{{"num_attention_heads", -32}}, "\"num_attention_heads\""},
      {{{"num_key_value_heads", 0}}, "\"num_key_value_heads\""},
      {{{"vocab_size", true}}, "\"vocab_size\""},
      {{{"max_position_embeddings", "long"}}, "\"max_position_embeddings\""},
      {{{"rms_norm_eps", 0}}, "\"rms_norm_eps\" must be a positive number"},
      {{{"rope_theta", "1e4"}}, "\"rope_theta\""},
      {{{"tie_word_embeddings", "yes"}}, "\"tie_word_embeddings\" must be true or false"},
      {{{"attention_bias", 1}}, "\"attention_bias\""},
      {{{"head_dim", 0}}, "\"head_dim\""},
      {{{"bos_token_id", -1}}, "\"bos_token_id\" must be a token id"},
      {{{"eos_token_id", {2, "</s>"}}}, "\"eos_token_id\""},
      {{{"eos_token_id", 4294967296}}, "\"eos_token_id\""},
      {{{"torch_dtype", "int8"}}, "\"torch_dtype\" \"int8\" is not supported"},
      {{{"rope_scaling", "llama3"}}, "\"rope_scaling\" must be an object"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.edit.dump());
    ExpectError(Parse(Llama2With(c.edit)), absl::StatusCode::kInvalidArgument,
                {"models/m/config.json: field ", c.field});
  }
}

TEST(ModelConfigTest, HeadsNotDivisibleByKvHeads) {
  ExpectError(Parse(Llama2With({{"num_key_value_heads", 12}})), absl::StatusCode::kInvalidArgument,
              {"models/m/config.json", "num_key_value_heads", "(12)", "(32)"});
}

TEST(ModelConfigTest, HiddenNotDivisibleByHeadsNeedsHeadDim) {
  ExpectError(Parse(Llama2With({{"hidden_size", 4100}})), absl::StatusCode::kInvalidArgument,
              {"\"hidden_size\"", "head_dim"});
  absl::StatusOr<ModelConfig> c = Parse(Llama2With({{"hidden_size", 4100}, {"head_dim", 128}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 128);
}

TEST(ModelConfigTest, BadRopeScaling) {
  ExpectError(Parse(Llama2With({{"rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}}}})),
              absl::StatusCode::kInvalidArgument,
              {"models/m/config.json", "\"rope_scaling.rope_type\"", "yarn", "llama3"});
  ExpectError(Parse(Llama2With({{"rope_scaling", {{"factor", 4.0}}}})),
              absl::StatusCode::kInvalidArgument, {"\"rope_scaling.type\" is missing"});
  Json j = Json::parse(kLlama3);
  j["rope_scaling"].erase("low_freq_factor");
  ExpectError(Parse(j.dump()), absl::StatusCode::kInvalidArgument,
              {"\"rope_scaling.low_freq_factor\" is missing"});
  j = Json::parse(kLlama3);
  j["rope_scaling"]["factor"] = -8;
  ExpectError(Parse(j.dump()), absl::StatusCode::kInvalidArgument, {"\"rope_scaling.factor\""});
}

TEST(ModelConfigTest, UnsupportedVariantsAreUnimplemented) {
  ExpectError(Parse(Llama2With({{"hidden_act", "gelu"}})), absl::StatusCode::kUnimplemented,
              {"\"hidden_act\"", "gelu"});
  ExpectError(Parse(Llama2With({{"mlp_bias", true}})), absl::StatusCode::kUnimplemented,
              {"\"mlp_bias\""});
}

TEST(ModelConfigTest, GenerationConfigErrorsNameThatFile) {
  ExpectError(Parse(kLlama2, R"({"eos_token_id": "two"})"), absl::StatusCode::kInvalidArgument,
              {"models/m/generation_config.json: field \"eos_token_id\""});
  absl::StatusOr<ModelConfig> c = Parse(kLlama2, R"({"eos_token_id": null, "bos_token_id": 7})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bos_token_id, 7);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2));  // null does not override
}

TEST(ModelConfigTest, JsonRoundTrip) {
  for (const char* text : {kLlama3, kLlama2, kMistral, kQwen2, kQwen3}) {
    absl::StatusOr<ModelConfig> c = Parse(text, kQwen2Generation);
    ASSERT_TRUE(c.ok()) << c.status();
    const std::string config_json = ModelConfigToJson(*c);
    SCOPED_TRACE(config_json);
    absl::StatusOr<ModelConfig> back = Parse(config_json, GenerationConfigToJson(*c));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, *c);
    absl::StatusOr<ModelConfig> without_generation = Parse(config_json);
    ASSERT_TRUE(without_generation.ok());
    EXPECT_EQ(*without_generation, *c);  // config.json alone carries the tokens too
  }
}

TEST(ModelConfigTest, RoundTripOfEditedConfigs) {
  absl::StatusOr<ModelConfig> c = Parse(kQwen2);
  ASSERT_TRUE(c.ok());
  c->sliding_window = 4096;
  c->eos_token_ids.clear();
  c->bos_token_id.reset();
  c->dtype = DType::kF32;
  c->rope_scaling = {RopeScalingType::kLinear, 3.5, 1, 4, 8192};
  absl::StatusOr<ModelConfig> back = Parse(ModelConfigToJson(*c));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *c);
}

class LoadModelConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/model_config_test_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::remove((dir_ + "/config.json").c_str());
    std::remove((dir_ + "/generation_config.json").c_str());
    ::rmdir(dir_.c_str());
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::string dir_;
};

TEST_F(LoadModelConfigTest, ReadsBothFiles) {
  Write("config.json", kQwen2);
  Write("generation_config.json", kQwen2Generation);
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(151645, 151643));
}

TEST_F(LoadModelConfigTest, GenerationConfigIsOptional) {
  Write("config.json", kQwen3);
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(151645));
}

TEST_F(LoadModelConfigTest, MissingConfigIsNotFound) {
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(dir_ + "/config.json"));
}

TEST_F(LoadModelConfigTest, ErrorsNameTheDirectory) {
  Write("config.json", Llama2With({{"vocab_size", 0}}));
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir_);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr(dir_ + "/config.json: field \"vocab_size\""));
}

}  // namespace
}  // namespace tspserve
