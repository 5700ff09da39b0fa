#include "clients/tspload/progress_line.h"

#include <unistd.h>

#include <cstdio>
#include <utility>

namespace tspserve::tspload {

ProgressLine::ProgressLine(std::string label, int total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

bool ProgressLine::StderrIsTty() { return isatty(STDERR_FILENO) == 1; }

void ProgressLine::Update(int done, int failed) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
  last_draw_ = now;
  Draw(done, failed);
}

void ProgressLine::Finish(int done, int failed) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  Draw(done, failed);
  std::fputc('\n', stderr);
}

void ProgressLine::Draw(int done, int failed) {
  constexpr int kWidth = 30;
  const int filled = total_ > 0 ? done * kWidth / total_ : kWidth;
  const std::string bar = std::string(static_cast<size_t>(filled), '#') +
                          std::string(static_cast<size_t>(kWidth - filled), '.');
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "\r%s [%s] %d/%d done, %d failed, %.1f s", label_.c_str(), bar.c_str(), done,
               total_, failed, elapsed);
  std::fflush(stderr);
}

}  // namespace tspserve::tspload
