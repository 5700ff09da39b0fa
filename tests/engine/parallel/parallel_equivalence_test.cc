// Every parallel mode on N = 1..4 ranks against the single-rank engine on the same checkpoint:
// teacher-forced logits within 1e-4 and identical 32-token greedy continuations, for prompts of
// 1, N-1, 2N+1, 37 and 200 tokens, alone and batched together. Presets cover GQA with fewer K/V
// heads than ranks, q/k/v bias with tied embeddings, q/k norm, and a sliding window.
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "models/synthetic/make_model.h"

namespace tspserve {
namespace {

namespace fs = std::filesystem;

constexpr float kMaxLogitError = 1e-4f;
constexpr int32_t kContinuation = 32;

struct Mode {
  ParallelMode mode;
  DecodeSchedule decode;
  std::string name;
  int (*tp_of)(int degree) = nullptr;  // tp_sp: the tensor group size for N ranks
};

const Mode kModes[] = {
    {ParallelMode::kTsp, DecodeSchedule::kWeightStationary, "tsp"},
    {ParallelMode::kTsp, DecodeSchedule::kBroadcast, "tsp_broadcast"},
    {ParallelMode::kTp, DecodeSchedule::kWeightStationary, "tp"},
    {ParallelMode::kSp, DecodeSchedule::kWeightStationary, "sp"},
    // Meshes 1x1, 2x1, 1x3, 2x2 and 1x1, 1x2, 3x1, 2x2 (tp x sp).
    {ParallelMode::kTpSp, DecodeSchedule::kWeightStationary, "tp_sp_a",
     [](int n) { return n % 2 == 0 ? 2 : 1; }},
    {ParallelMode::kTpSp, DecodeSchedule::kWeightStationary, "tp_sp_b",
     [](int n) { return n % 2 == 0 ? n / 2 : n; }},
};

ParallelConfig ConfigOf(const Mode& mode, int degree) {
  ParallelConfig config{mode.mode, degree, mode.decode};
  if (mode.tp_of != nullptr) {
    config.tp = mode.tp_of(degree);
    config.sp = degree / config.tp;
  }
  return config;
}

std::string ModelDir(const std::string& preset) {
  static std::map<std::string, std::string>* dirs = new std::map<std::string, std::string>();
  auto it = dirs->find(preset);
  if (it != dirs->end()) return it->second;
  const fs::path dir = fs::path(testing::TempDir()) / ("parallel_" + preset);
  fs::remove_all(dir);
  MakeModelOptions options;
  options.preset = preset;
  options.seed = 11;
  options.out_dir = dir.string();
  EXPECT_TRUE(MakeModel(options).ok());
  return (*dirs)[preset] = dir.string();
}

std::unique_ptr<Engine> MakeEngine(const std::string& preset, ParallelConfig parallel) {
  EngineOptions options;
  options.model_dir = ModelDir(preset);
  options.parallel = parallel;
  options.block_size = 8;  // 200 tokens span many pages; 37 and 2N+1 are not page multiples
  options.kv_cache_bytes = 4 << 20;
  auto engine = Engine::Create(options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

std::vector<int32_t> Prompt(int32_t length, int32_t salt, int64_t vocab) {
  std::vector<int32_t> prompt;
  for (int32_t i = 0; i < length; ++i) prompt.push_back(static_cast<int32_t>((i * 31 + salt * 7 + 3) % vocab));
  return prompt;
}

std::vector<GenerateRequest> Requests(const std::vector<std::vector<int32_t>>& prompts) {
  std::vector<GenerateRequest> requests;
  for (const auto& p : prompts) {
    GenerateRequest r;
    r.prompt_tokens = p;
    r.sampling.temperature = 0;
    r.stopping.max_tokens = kContinuation;
    r.stopping.ignore_eos = true;
    requests.push_back(r);
  }
  return requests;
}

// Seeded sampling, a different setting per prompt (top-p, top-k with logprobs, min-p, plain
// temperature with repetition and presence penalties): sampled on the devices, whose vocabulary
// shards must merge to the single rank's draw.
std::vector<GenerateRequest> SampledRequests(const std::vector<std::vector<int32_t>>& prompts) {
  std::vector<GenerateRequest> requests = Requests(prompts);
  for (size_t i = 0; i < requests.size(); ++i) {
    SamplingParams& s = requests[i].sampling;
    s.seed = 7 + i;
    s.temperature = 0.6f + 0.2f * static_cast<float>(i % 4);
    if (i % 4 == 0) s.top_p = 0.9f;
    if (i % 4 == 1) s.top_k = 20, s.num_logprobs = 2;
    if (i % 4 == 2) s.min_p = 0.05f;
    if (i % 4 == 3) s.repetition_penalty = 1.3f, s.presence_penalty = 0.4f, s.num_logprobs = 2;  // raw logprobs
  }
  return requests;
}

std::vector<std::vector<int32_t>> Tokens(const std::vector<GenerateResult>& results) {
  std::vector<std::vector<int32_t>> tokens;
  for (const GenerateResult& r : results) {
    EXPECT_TRUE(r.status.ok()) << r.status;
    tokens.push_back(r.tokens);
  }
  return tokens;
}

// The single-rank engine's logits and greedy tokens for one preset and prompt set, computed once.
struct Reference {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::vector<float>> logits;
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::vector<int32_t>> sampled_tokens;
};

const Reference& ReferenceFor(const std::string& preset, int degree) {
  static std::map<std::pair<std::string, int>, Reference>* cache =
      new std::map<std::pair<std::string, int>, Reference>();
  const auto key = std::make_pair(preset, degree);
  if (auto it = cache->find(key); it != cache->end()) return it->second;
  auto engine = MakeEngine(preset, ParallelConfig{});
  Reference ref;
  for (int32_t length : {1, std::max(degree - 1, 1), 2 * degree + 1, 37, 200}) {
    ref.prompts.push_back(Prompt(length, static_cast<int32_t>(ref.prompts.size()),
                                 engine->config().vocab_size));
    ref.logits.push_back(*engine->PromptLogits(ref.prompts.back()));
  }
  ref.tokens = Tokens(engine->Generate(Requests(ref.prompts)));
  ref.sampled_tokens = Tokens(engine->Generate(SampledRequests(ref.prompts)));
  return (*cache)[key] = std::move(ref);
}

class ParallelEquivalenceTest
    : public testing::TestWithParam<std::tuple<std::string, int, int>> {};

TEST_P(ParallelEquivalenceTest, MatchesTheSingleRankEngine) {
  const auto& [preset, mode_index, degree] = GetParam();
  const Mode& mode = kModes[mode_index];
  const Reference& ref = ReferenceFor(preset, degree);
  auto engine = MakeEngine(preset, ConfigOf(mode, degree));
  ASSERT_TRUE(engine);
  for (size_t p = 0; p < ref.prompts.size(); ++p) {
    const auto actual = engine->PromptLogits(ref.prompts[p]);
    ASSERT_TRUE(actual.ok()) << actual.status();
    ASSERT_EQ(ref.logits[p].size(), actual->size());
    float max_error = 0;
    for (size_t i = 0; i < actual->size(); ++i) {
      max_error = std::max(max_error, std::fabs(ref.logits[p][i] - (*actual)[i]));
    }
    EXPECT_LT(max_error, kMaxLogitError) << "prompt of " << ref.prompts[p].size() << " tokens";
  }
  // Each prompt alone, then all five batched: the same greedy tokens as one rank.
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    EXPECT_EQ(Tokens(engine->Generate(Requests({ref.prompts[i]})))[0], ref.tokens[i])
        << "prompt of " << ref.prompts[i].size() << " tokens alone";
  }
  EXPECT_EQ(Tokens(engine->Generate(Requests(ref.prompts))), ref.tokens) << "batched";
  EXPECT_EQ(Tokens(engine->Generate(SampledRequests(ref.prompts))), ref.sampled_tokens) << "sampled";
  EXPECT_EQ(engine->kv_cache().num_used_blocks(), 0);
  EXPECT_TRUE(engine->kv_cache().CheckIntegrity().ok());
}

INSTANTIATE_TEST_SUITE_P(
    AllModes, ParallelEquivalenceTest,
    testing::Combine(testing::Values("tiny", "small", "qwen2-small", "qwen3-small", "mistral-small"),
                     testing::Range(0, 6), testing::Values(1, 2, 3, 4)),
    [](const testing::TestParamInfo<std::tuple<std::string, int, int>>& param_info) {
      std::string name = std::get<0>(param_info.param) + "_" + kModes[std::get<1>(param_info.param)].name +
                         "_n" + std::to_string(std::get<2>(param_info.param));
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

}  // namespace
}  // namespace tspserve
