// A one-line progress display on a terminal: requests done, failed and elapsed time, redrawn in
// place at most ten times a second. Silent when disabled (stderr is not a TTY).
#pragma once

#include <chrono>
#include <mutex>
#include <string>

namespace tspserve::tspload {

class ProgressLine {
 public:
  // `label` names the phase ("warm-up", "benchmark"); total >= 0 requests.
  ProgressLine(std::string label, int total, bool enabled);
  // Thread-safe; called as each request ends.
  void Update(int done, int failed);
  // Draws the final state and ends the line.
  void Finish(int done, int failed);

  // True when stderr is a terminal.
  static bool StderrIsTty();

 private:
  void Draw(int done, int failed);

  std::string label_;
  int total_;
  bool enabled_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace tspserve::tspload
