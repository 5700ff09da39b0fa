// What each mode holds and moves, measured (allocator peaks, bytes sent by collective kind) and
// checked against the formulas of docs/parallelism.md.
#include <cstdio>
#include <filesystem>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "models/synthetic/make_model.h"
#include "models/weights.h"

namespace tspserve {
namespace {

namespace fs = std::filesystem;

class AccountingTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string((fs::path(testing::TempDir()) / "accounting_tiny").string());
    fs::remove_all(*dir_);
    MakeModelOptions options;
    options.out_dir = *dir_;
    ASSERT_TRUE(MakeModel(options).ok());
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::unique_ptr<Engine> MakeEngine(ParallelMode mode, int32_t degree,
                                            DecodeSchedule decode = DecodeSchedule::kWeightStationary) {
    EngineOptions options;
    options.model_dir = *dir_;
    options.parallel = {mode, degree, decode};
    options.kv_cache_bytes = 4 << 20;
    auto engine = Engine::Create(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return std::move(*engine);
  }
  static std::vector<int32_t> Prompt(int32_t length) {
    std::vector<int32_t> p;
    for (int32_t i = 0; i < length; ++i) p.push_back((i * 13 + 5) % 500);
    return p;
  }
  static CommStats Generate(Engine& engine, int32_t prompt_length, int32_t max_tokens) {
    engine.ResetCommStats();
    GenerateRequest r;
    r.prompt_tokens = Prompt(prompt_length);
    r.sampling.temperature = 0;
    r.stopping.max_tokens = max_tokens;
    r.stopping.ignore_eos = true;
    std::vector<GenerateRequest> batch;
    batch.push_back(r);
    EXPECT_TRUE(engine.Generate(std::move(batch))[0].status.ok());
    return engine.Reports()[0].comm;
  }
  static int64_t Sent(const CommStats& s, CollectiveKind kind) { return s.bytes(kind); }

  static std::string* dir_;
};

std::string* AccountingTest::dir_ = nullptr;

TEST_F(AccountingTest, TspHoldsOneNthOfTheWeightsAndSpHoldsAll) {
  auto single = MakeEngine(ParallelMode::kTsp, 1);
  const int64_t whole = single->Reports()[0].weight_bytes;
  const ModelConfig& c = single->config();
  const int64_t norms = (2 * c.num_layers + 1) * c.hidden_size * 4;  // replicated, fp32
  for (int32_t n : {2, 4}) {
    auto tsp = MakeEngine(ParallelMode::kTsp, n);
    for (const RankReport& r : tsp->Reports()) {
      // Layer shards, vocabulary rows and norms, each buffer padded to 256 bytes at most.
      const int64_t expected = (whole - norms) / n + norms;
      EXPECT_NEAR(static_cast<double>(r.weight_bytes), static_cast<double>(expected),
                  256.0 * (8 * c.num_layers + 8))
          << "rank " << r.rank << " of " << n;
      EXPECT_EQ(r.memory.peak[static_cast<int>(MemoryKind::kWeights)], r.weight_bytes);
    }
  }
  for (const RankReport& r : MakeEngine(ParallelMode::kSp, 4)->Reports()) {
    EXPECT_EQ(r.weight_bytes, whole) << "SP replicates the weights";
  }
}

TEST_F(AccountingTest, TpHoldsTheWholeSequenceOfActivationsTspAQuarter) {
  auto peak_activations = [&](ParallelMode mode) {
    auto engine = MakeEngine(mode, 4);
    Generate(*engine, 400, 1);  // one prefill step: logits of the last token only
    int64_t peak = 0;
    for (const RankReport& r : engine->Reports()) {
      peak = std::max(peak, r.memory.peak[static_cast<int>(MemoryKind::kActivations)]);
    }
    return peak;
  };
  const int64_t tp = peak_activations(ParallelMode::kTp);
  const int64_t tsp = peak_activations(ParallelMode::kTsp);
  std::printf("peak activation bytes per rank, 400-token prompt, N=4: tp %lld, tsp %lld\n",
              static_cast<long long>(tp), static_cast<long long>(tsp));
  EXPECT_LT(tsp * 2, tp);
}

TEST_F(AccountingTest, TspPrefillMovesNMinusOneNthsOfEachLayersWeights) {
  for (int32_t n : {2, 3, 4}) {
    auto engine = MakeEngine(ParallelMode::kTsp, n);
    engine->ResetCommStats();
    ASSERT_TRUE(engine->PromptLogits(Prompt(37)).ok());
    const ModelConfig& c = engine->config();
    for (const RankReport& r : engine->Reports()) {
      const ShardLayout layout = *ShardLayout::Make(c, ShardSpec{r.rank, n});
      const int64_t attention = static_cast<int64_t>(AttentionShardBytes(c, layout, DType::kF32));
      const int64_t mlp = static_cast<int64_t>(MlpShardBytes(c, layout, DType::kF32));
      // As root of its own shard's broadcast it sends it to N-1 ranks; in the ring it passes on
      // N-1 MLP shards (all the same size).
      EXPECT_EQ(Sent(r.comm, CollectiveKind::kBroadcast), c.num_layers * (n - 1) * attention);
      EXPECT_EQ(Sent(r.comm, CollectiveKind::kSendRecv), c.num_layers * (n - 1) * mlp);
      EXPECT_GT(Sent(r.comm, CollectiveKind::kAllGather), 0) << "the K/V exchange";
      EXPECT_EQ(Sent(r.comm, CollectiveKind::kAllToAll), 0);
    }
  }
}

TEST_F(AccountingTest, WeightStationaryDecodeMovesNoWeights) {
  for (int32_t n : {2, 3, 4}) {
    auto engine = MakeEngine(ParallelMode::kTsp, n);
    const CommStats prefill = Generate(*engine, 21, 1);
    const CommStats with_decode = Generate(*engine, 21, 6);
    EXPECT_EQ(Sent(with_decode, CollectiveKind::kBroadcast), Sent(prefill, CollectiveKind::kBroadcast));
    EXPECT_EQ(Sent(with_decode, CollectiveKind::kSendRecv), Sent(prefill, CollectiveKind::kSendRecv));
    EXPECT_GT(Sent(with_decode, CollectiveKind::kAllToAll), 0) << "partials to head owners";
    EXPECT_GT(Sent(with_decode, CollectiveKind::kAllReduce), Sent(prefill, CollectiveKind::kAllReduce));
  }
}

TEST_F(AccountingTest, BroadcastDecodeMovesTheWeightsEveryStep) {
  auto engine = MakeEngine(ParallelMode::kTsp, 4, DecodeSchedule::kBroadcast);
  const CommStats prefill = Generate(*engine, 21, 1);
  const CommStats with_decode = Generate(*engine, 21, 6);
  // Five decode steps, each moving every layer's shards once more.
  EXPECT_EQ(Sent(with_decode, CollectiveKind::kBroadcast), 6 * Sent(prefill, CollectiveKind::kBroadcast));
  EXPECT_EQ(Sent(with_decode, CollectiveKind::kSendRecv), 6 * Sent(prefill, CollectiveKind::kSendRecv));
}

}  // namespace
}  // namespace tspserve
