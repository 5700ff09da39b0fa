// The tspserve command line as a user runs it: the README's quick-start command on the built-in
// model, and clear errors (exit code 1, a message naming the problem) for bad input.
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tspserve {
namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr together
  std::string stdout_only;
};

Result RunTspserve(const std::string& args) {
  const fs::path binary = fs::path(std::getenv("TSPSERVE_BINARY_DIR")) / "server" / "tspserve";
  const fs::path out = fs::path(testing::TempDir()) / "cli_stdout.txt";
  const std::string command = binary.string() + " " + args + " 2>&1 >" + out.string();
  Result result;
  FILE* pipe = popen(command.c_str(), "r");
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  result.exit_code = WEXITSTATUS(pclose(pipe));
  std::ifstream in(out);
  result.stdout_only.assign(std::istreambuf_iterator<char>(in), {});
  result.output += result.stdout_only;
  return result;
}

class CliTest : public testing::Test {
 protected:
  void SetUp() override {
    cache_ = fs::path(testing::TempDir()) / "cli_cache";
    setenv("TSPSERVE_CACHE_DIR", cache_.c_str(), 1);
  }
  fs::path cache_;
};

TEST_F(CliTest, QuickStartGeneratesWithTheBuiltinModel) {
  const Result r = RunTspserve("generate --prompt 'The capital of France is' --max-tokens 8 --temperature 0");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(r.stdout_only.empty());
  EXPECT_NE(r.output.find("generated tokens 8"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(cache_ / "models" / "tiny-seed0" / "config.json"));
  // Greedy is deterministic, and the cached model is reused.
  EXPECT_EQ(RunTspserve("generate --prompt 'The capital of France is' --max-tokens 8 --temperature 0").stdout_only,
            r.stdout_only);
}

TEST_F(CliTest, BatchedPromptsPrintOneJsonLineEach) {
  const Result r = RunTspserve("generate --prompt a --prompt 'b c' --max-tokens 3 --temperature 0 --json --ignore-eos");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(std::count(r.stdout_only.begin(), r.stdout_only.end(), '\n'), 2) << r.stdout_only;
  EXPECT_NE(r.stdout_only.find("\"finish_reason\":\"length\""), std::string::npos) << r.stdout_only;
}

// --decode-graphs is accepted everywhere; on the CPU it only fixes the decode steps' upload shapes,
// which must not change a seeded sampled completion.
TEST_F(CliTest, DecodeGraphsFlagChangesNoToken) {
  const std::string args = "generate --prompt 'a b c' --max-tokens 12 --temperature 0.8 --top-p 0.9 --seed 3 --degree 2";
  const Result plain = RunTspserve(args);
  const Result graphs = RunTspserve(args + " --decode-graphs");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  ASSERT_EQ(graphs.exit_code, 0) << graphs.output;
  EXPECT_EQ(graphs.stdout_only, plain.stdout_only);
}

TEST_F(CliTest, MissingModelFolderIsAClearError) {
  const Result r = RunTspserve("generate --model /nonexistent/model --prompt hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent/model"), std::string::npos) << r.output;
}

TEST_F(CliTest, BadSamplingFlagIsAClearError) {
  const Result r = RunTspserve("generate --prompt hi --top-p 1.5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("top_p"), std::string::npos) << r.output;
}

TEST_F(CliTest, MakeModelListsPresetsAndRejectsUnknownOnes) {
  const Result list = RunTspserve("make-model --list");
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.stdout_only.find("llama3-70b"), std::string::npos);
  const Result bad = RunTspserve("make-model --preset nope --out " + (cache_ / "x").string());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("qwen2-small"), std::string::npos) << bad.output;
}

nlohmann::json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST_F(CliTest, DeviceFlagErrorsAreClear) {
  Result r = RunTspserve("generate --prompt hi --device tpu");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("unknown device \"tpu\""), std::string::npos) << r.output;
  // Four ranks on CUDA: runs where four GPUs exist, else a clear error naming what is missing.
  r = RunTspserve("generate --prompt hi --max-tokens 2 --device cuda --degree 4");
  if (r.exit_code != 0) {
    EXPECT_NE(r.output.find("CUDA"), std::string::npos) << r.output;
  }
}

TEST_F(CliTest, BenchMeasuresEveryCaseOfEveryMode) {
  const fs::path json = fs::path(testing::TempDir()) / "bench.json";
  const Result r = RunTspserve(
      "bench --device cpu --preset tiny --modes tsp,tp --degree 2 --prompt-lengths 37 --batch-sizes 3 "
      "--contexts 21 --decode-steps 2 --warmup 0 --repeat 1 --json " + json.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.stdout_only.find("prefill 37"), std::string::npos) << r.stdout_only;
  const nlohmann::json doc = ReadJson(json);
  EXPECT_GT(doc["rates"]["matmul_flops_per_s"].get<double>(), 0);
  EXPECT_GT(doc["rates"]["copy_bytes_per_s"].get<double>(), 0);
  EXPECT_NE(doc["command"].get<std::string>().find("--prompt-lengths 37"), std::string::npos);
  ASSERT_EQ(doc["cases"].size(), 4u);  // (prefill, decode) x (tsp, tp)
  for (const nlohmann::json& c : doc["cases"]) {
    ASSERT_TRUE(c["ok"].get<bool>()) << c.dump();
    EXPECT_GT(c["seconds"].get<double>(), 0);
    EXPECT_GT(c["floor_seconds"].get<double>(), 0);
    ASSERT_EQ(c["memory_per_gpu"].size(), 2u);
    for (const nlohmann::json& m : c["memory_per_gpu"]) {
      EXPECT_GT(m["weights"].get<int64_t>(), 0);
      EXPECT_GT(m["kv_cache"].get<int64_t>(), 0);
      EXPECT_GT(m["activations"].get<int64_t>(), 0);
    }
  }
  // TSP's prefill moves weights (broadcast and ring); TP's all-reduces activations.
  const nlohmann::json& tsp_prefill = doc["cases"][0];
  EXPECT_EQ(tsp_prefill["mode"], "tsp");
  EXPECT_GT(tsp_prefill["comm_summed_over_ranks"]["Broadcast"]["bytes"].get<int64_t>(), 0);
  EXPECT_GT(tsp_prefill["comm_summed_over_ranks"]["SendRecv"]["bytes"].get<int64_t>(), 0);
  const nlohmann::json& tp_decode = doc["cases"][3];
  EXPECT_EQ(tp_decode["mode"], "tp");
  EXPECT_EQ(tp_decode["replayed_decode_steps"], 0);  // no --decode-graphs (and the CPU cannot record)
  EXPECT_EQ(tp_decode["batch"], 3);
  EXPECT_GT(tp_decode["comm_summed_over_ranks"]["AllReduce"]["calls"].get<int64_t>(), 0);
}

TEST_F(CliTest, BenchFindsTheLongestPromptTheKvPoolHoldsAndMixesContexts) {
  const fs::path json = fs::path(testing::TempDir()) / "longest.json";
  // tiny: 1 KiB of K/V per token on the rank that holds it; 1 MiB pools on 2 ranks hold 2048.
  // The rows sample with top-p on the devices; the decode batch holds sequences of 3 and 6 keys.
  const Result r = RunTspserve(
      "bench --device cpu --modes tsp --degree 2 --prompt-lengths 16 --batch-sizes 2 --contexts 6 --mixed-contexts "
      "--temperature 0.8 --top-p 0.9 "
      "--decode-steps 1 --warmup 0 --repeat 1 --kv-cache-mb 1 --longest-prompt 256 "
      "--longest-prompt-limit 8K --json " + json.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json report = ReadJson(json);
  const int64_t longest = report["longest_prompt"]["tsp/weight-stationary"].get<int64_t>();
  const nlohmann::json& decode = report["cases"][1];
  EXPECT_EQ(decode["phase"], "decode");
  EXPECT_TRUE(decode["ok"].get<bool>()) << decode["error"];
  EXPECT_TRUE(decode["mixed_contexts"].get<bool>());
  EXPECT_GE(longest, 2048 - 32);
  EXPECT_LT(longest, 4096);
}

TEST_F(CliTest, BenchRejectsBadSizesAndModes) {
  Result r = RunTspserve("bench --device cpu --prompt-lengths 12,0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--prompt-lengths"), std::string::npos) << r.output;
  r = RunTspserve("bench --device cpu --modes tsp,xp");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("xp"), std::string::npos) << r.output;
  r = RunTspserve("bench --device cpu --temperature -1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("temperature"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tspserve
