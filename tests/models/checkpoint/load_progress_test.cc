#include "models/checkpoint/load_progress.h"

#include <cstdio>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tspserve {
namespace {

using ::testing::HasSubstr;

TEST(FormatLoadProgressTest, Formats) {
  EXPECT_EQ(FormatLoadProgress("/m/llama", 3'200'000'000, 16'000'000'000, 3.2 / 1.9),
            "loading /m/llama: 3.2/16.0 GB (1.9 GB/s)");
  EXPECT_EQ(FormatLoadProgress("m", 500'000'000, 0, 0.5), "loading m: 0.5 GB (1.0 GB/s)");
  EXPECT_EQ(FormatLoadProgress("m", 0, 1'000'000'000, 0), "loading m: 0.0/1.0 GB (0.0 GB/s)");
}

// Captures what LoadProgress draws, on a fake clock.
class LoadProgressTest : public ::testing::Test {
 protected:
  LoadProgressTest() : out_(std::tmpfile()) {}
  ~LoadProgressTest() override { std::fclose(out_); }

  LoadProgress::Options Options(bool interactive) {
    LoadProgress::Options options;
    options.interactive = interactive;
    options.out = out_;
    options.now_seconds = [this] { return now_; };
    return options;
  }
  std::string Drawn() {
    std::fflush(out_);
    std::rewind(out_);
    std::string text;
    for (int c = std::fgetc(out_); c != EOF; c = std::fgetc(out_))
      text.push_back(static_cast<char>(c));
    return text;
  }

  std::FILE* out_;
  double now_ = 100;
};

TEST_F(LoadProgressTest, QuietForTheFirstSecond) {
  LoadProgress progress("m", 4'000'000'000, Options(true));
  now_ = 100.5;
  progress.Update(1'000'000'000);
  EXPECT_FALSE(progress.drawn());
  EXPECT_EQ(Drawn(), "");
}

TEST_F(LoadProgressTest, RedrawsOneLineOnATerminal) {
  {
    LoadProgress progress("m", 4'000'000'000, Options(true));
    now_ = 102;
    progress.Update(1'000'000'000);
    EXPECT_TRUE(progress.drawn());
    now_ = 102.05;  // within the redraw interval: skipped
    progress.Update(1'500'000'000);
    now_ = 104;
    progress.Update(4'000'000'000);
    progress.Finish();
    progress.Finish();  // idempotent
  }
  EXPECT_EQ(Drawn(),
            "\rloading m: 1.0/4.0 GB (0.5 GB/s)\033[K"
            "\rloading m: 4.0/4.0 GB (1.0 GB/s)\033[K"
            "\rloading m: 4.0/4.0 GB (1.0 GB/s)\033[K\n");
}

TEST_F(LoadProgressTest, SilentWhenNotATerminal) {
  {
    LoadProgress progress("m", 4'000'000'000, Options(false));
    now_ = 110;
    progress.Update(4'000'000'000);
    EXPECT_FALSE(progress.drawn());
  }  // the destructor finishes
  EXPECT_EQ(Drawn(), "");
}

TEST_F(LoadProgressTest, FastLoadDrawsNothing) {
  {
    LoadProgress progress("m", 10, Options(true));
    progress.Update(10);
  }
  EXPECT_EQ(Drawn(), "");
}

}  // namespace
}  // namespace tspserve
