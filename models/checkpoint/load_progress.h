// Progress of a weight load. On a terminal, once loading has taken more than a second, one
// stderr line is redrawn: "loading <dir>: 3.2/16.0 GB (1.9 GB/s)". Elsewhere (logs, pipes)
// it stays silent until Finish, which logs one summary line via LOG(INFO).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>

namespace tspserve {

// "loading <label>: 3.2/16.0 GB (1.9 GB/s)"; "3.2 GB" alone when `total_bytes` is 0 (unknown).
std::string FormatLoadProgress(const std::string& label, int64_t bytes_done, int64_t total_bytes,
                               double seconds);

class LoadProgress {
 public:
  struct Options {
    bool interactive = false;             // redraw a line (normally: stderr is a TTY)
    std::FILE* out = stderr;              // where the line is drawn
    std::function<double()> now_seconds;  // monotonic clock; the steady clock when empty
    double delay_seconds = 1.0;           // quiet for this long before the first draw
    double redraw_seconds = 0.1;          // at most one redraw per this interval
  };

  // Reports on stderr when it is a TTY.
  LoadProgress(std::string label, int64_t total_bytes);
  LoadProgress(std::string label, int64_t total_bytes, Options options);
  ~LoadProgress();  // calls Finish() if not yet called

  // `bytes_done`: the running total so far (e.g. Checkpoint::bytes_read()). Thread-safe.
  void Update(int64_t bytes_done);
  // Ends the line on a terminal and logs the summary. Idempotent.
  void Finish();

  // True once a line has been drawn.
  bool drawn() const;

 private:
  double Elapsed() const;

  const std::string label_;
  const int64_t total_bytes_;
  Options options_;
  double start_;
  mutable std::mutex mu_;
  int64_t bytes_done_ = 0;  // guarded by mu_
  double last_draw_ = -1;   // guarded by mu_; elapsed seconds at the last draw, -1 = never
  bool finished_ = false;   // guarded by mu_
};

}  // namespace tspserve
