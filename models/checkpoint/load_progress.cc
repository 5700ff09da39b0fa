#include "models/checkpoint/load_progress.h"

#include <unistd.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_format.h"
#include "engine/common/check.h"

namespace tspserve {
namespace {

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

LoadProgress::Options StderrOptions() {
  LoadProgress::Options options;
  options.interactive = ::isatty(STDERR_FILENO) == 1;
  return options;
}

}  // namespace

std::string FormatLoadProgress(const std::string& label, int64_t bytes_done, int64_t total_bytes,
                               double seconds) {
  const double done_gb = static_cast<double>(bytes_done) / 1e9;
  const double rate = seconds > 0 ? done_gb / seconds : 0.0;
  if (total_bytes <= 0) {
    return absl::StrFormat("loading %s: %.1f GB (%.1f GB/s)", label, done_gb, rate);
  }
  return absl::StrFormat("loading %s: %.1f/%.1f GB (%.1f GB/s)", label, done_gb,
                         static_cast<double>(total_bytes) / 1e9, rate);
}

LoadProgress::LoadProgress(std::string label, int64_t total_bytes)
    : LoadProgress(std::move(label), total_bytes, StderrOptions()) {}

LoadProgress::LoadProgress(std::string label, int64_t total_bytes, Options options)
    : label_(std::move(label)), total_bytes_(total_bytes), options_(std::move(options)) {
  if (!options_.now_seconds) options_.now_seconds = SteadySeconds;
  start_ = options_.now_seconds();
}

LoadProgress::~LoadProgress() { Finish(); }

double LoadProgress::Elapsed() const { return options_.now_seconds() - start_; }

void LoadProgress::Update(int64_t bytes_done) {
  std::lock_guard<std::mutex> lock(mu_);
  bytes_done_ = bytes_done;
  if (!options_.interactive || finished_) return;
  const double elapsed = Elapsed();
  if (elapsed <= options_.delay_seconds) return;
  if (last_draw_ >= 0 && elapsed - last_draw_ < options_.redraw_seconds) return;
  last_draw_ = elapsed;
  // \r returns to the line start; \033[K clears what a longer previous line left behind.
  std::fprintf(options_.out, "\r%s\033[K",
               FormatLoadProgress(label_, bytes_done, total_bytes_, elapsed).c_str());
  std::fflush(options_.out);
}

void LoadProgress::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  const std::string summary = FormatLoadProgress(label_, bytes_done_, total_bytes_, Elapsed());
  if (last_draw_ >= 0) {
    std::fprintf(options_.out, "\r%s\033[K\n", summary.c_str());
    std::fflush(options_.out);
  }
  LOG(INFO) << summary << " in " << absl::StrFormat("%.1f", Elapsed()) << " s";
}

bool LoadProgress::drawn() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_draw_ >= 0;
}

}  // namespace tspserve
