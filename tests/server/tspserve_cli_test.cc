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

}  // namespace
}  // namespace tspserve
