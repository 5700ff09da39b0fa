#include "clients/tspload/tspload_flags.h"

#include <cmath>

#include <CLI/CLI.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tspserve::tspload {
namespace {

using testing::HasSubstr;

// Parses `args` (after the program name) and resolves them; the status of the first failure.
absl::Status Parse(std::vector<std::string> args, TsploadFlags* flags) {
  CLI::App app;
  AddFlags(app, flags);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return ResolveFlags(flags);
}

std::vector<std::string> Base(std::vector<std::string> extra) {
  std::vector<std::string> args = {"--target", "h:1", "--num-requests", "5"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string Error(std::vector<std::string> extra) {
  TsploadFlags flags;
  return std::string(Parse(Base(std::move(extra)), &flags).message());
}

TEST(TsploadFlagsTest, ClosedLoopIsAnInfiniteRateWithACap) {
  TsploadFlags flags;
  ASSERT_TRUE(Parse(Base({"--concurrency", "4", "--input-len", "16", "--output-len", "8", "--ignore-eos"}), &flags).ok());
  EXPECT_TRUE(std::isinf(flags.shape.request_rate));
  EXPECT_EQ(flags.shape.max_concurrency, 4);
  EXPECT_TRUE(flags.ignore_eos);
  EXPECT_EQ(flags.input_len, 16);
  EXPECT_EQ(flags.percentiles, (std::vector<double>{50, 90, 99}));
  EXPECT_FALSE(flags.slos.any());
  EXPECT_FALSE(flags.temperature.has_value());
}

TEST(TsploadFlagsTest, OpenLoopWithBurstinessCapAndSlos) {
  TsploadFlags flags;
  ASSERT_TRUE(Parse(Base({"--request-rate", "2.5", "--burstiness", "0.5", "--max-concurrency", "3",
                          "--goodput", "ttft:200", "e2el:1500", "--percentiles", "99.9,25",
                          "--temperature", "0"}),
                    &flags)
                  .ok());
  EXPECT_EQ(flags.shape.request_rate, 2.5);
  EXPECT_EQ(flags.shape.burstiness, 0.5);
  EXPECT_EQ(flags.shape.max_concurrency, 3);
  EXPECT_EQ(flags.slos.ttft_ms, 200);
  EXPECT_EQ(flags.slos.e2el_ms, 1500);
  EXPECT_FALSE(flags.slos.tpot_ms.has_value());
  EXPECT_EQ(flags.percentiles, (std::vector<double>{99.9, 25}));
  ASSERT_TRUE(flags.temperature.has_value());
  EXPECT_EQ(*flags.temperature, 0.0f);
}

TEST(TsploadFlagsTest, BadCombinationsNameTheFlag) {
  EXPECT_THAT(Error({}), HasSubstr("exactly one of --concurrency and --request-rate"));
  EXPECT_THAT(Error({"--concurrency", "2", "--request-rate", "3"}), HasSubstr("exactly one"));
  EXPECT_THAT(Error({"--concurrency", "-2"}), HasSubstr("--concurrency"));
  EXPECT_THAT(Error({"--request-rate", "-1"}), HasSubstr("--request-rate"));
  EXPECT_THAT(Error({"--concurrency", "2", "--burstiness", "2"}), HasSubstr("--burstiness needs --request-rate"));
  EXPECT_THAT(Error({"--concurrency", "2", "--max-concurrency", "2"}), HasSubstr("--max-concurrency"));
  EXPECT_THAT(Error({"--request-rate", "1", "--burstiness", "0"}), HasSubstr("--burstiness"));
  EXPECT_THAT(Error({"--concurrency", "1", "--range-ratio", "1"}), HasSubstr("--range-ratio"));
  EXPECT_THAT(Error({"--concurrency", "1", "--input-len", "0"}), HasSubstr("--input-len"));
  EXPECT_THAT(Error({"--concurrency", "1", "--dataset", "sharegpt"}), HasSubstr("--dataset"));
  EXPECT_THAT(Error({"--concurrency", "1", "--dataset", "jsonl"}), HasSubstr("--dataset-path"));
  EXPECT_THAT(Error({"--concurrency", "1", "--dataset", "shared-prefix"}), HasSubstr("--prefix-len"));
  EXPECT_THAT(Error({"--concurrency", "1", "--prefix-len", "4"}), HasSubstr("--prefix-len"));
  EXPECT_THAT(Error({"--concurrency", "1", "--temperature", "-1"}), HasSubstr("--temperature"));
  EXPECT_THAT(Error({"--concurrency", "1", "--top-p", "0"}), HasSubstr("--top-p"));
  EXPECT_THAT(Error({"--concurrency", "1", "--ready-timeout", "0"}), HasSubstr("--ready-timeout"));
  TsploadFlags flags;
  EXPECT_FALSE(Parse({"--num-requests", "5", "--concurrency", "1"}, &flags).ok()) << "--target is required";
}

TEST(ParsePercentilesTest, AcceptsOnlyValuesInRange) {
  EXPECT_EQ(*ParsePercentiles("50, 90,99"), (std::vector<double>{50, 90, 99}));
  EXPECT_TRUE(ParsePercentiles("")->empty());
  EXPECT_EQ(*ParsePercentiles("100"), std::vector<double>{100});
  for (const char* bad : {"0", "101", "50,abc", "-5", "nan"}) {
    EXPECT_THAT(std::string(ParsePercentiles(bad).status().message()), HasSubstr("--percentiles")) << bad;
  }
}

TEST(ParseGoodputTest, KeysAndMilliseconds) {
  absl::StatusOr<GoodputSlos> slos = ParseGoodput({"tpot:12.5"});
  ASSERT_TRUE(slos.ok());
  EXPECT_EQ(slos->tpot_ms, 12.5);
  EXPECT_TRUE(slos->any());
  for (const char* bad : {"ttft", "ttft:", "ttft:0", "ttft:-3", "ttft:x", "itl:5", ":5", "ttft:inf"}) {
    EXPECT_THAT(std::string(ParseGoodput({bad}).status().message()), HasSubstr("--goodput")) << bad;
  }
}

}  // namespace
}  // namespace tspserve::tspload
