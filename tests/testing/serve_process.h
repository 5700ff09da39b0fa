// ServeProcess: a `tspserve serve` (or any) child process whose stderr a test reads, for the
// end-to-end tests of the server and its clients.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace tspserve {

class ServeProcess {
 public:
  // Starts argv[0] with `args` (argv[0] included), its stderr piped to this object.
  explicit ServeProcess(const std::vector<std::string>& args);
  ~ServeProcess();  // SIGKILL when still running
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // Reads stderr until it holds `text` or `timeout` passes; true when found.
  bool WaitFor(const std::string& text, std::chrono::seconds timeout);
  // The rest of the line after `key` once logged ("" before): "listening on " gives the address.
  std::string LoggedAfter(const std::string& key) const;
  std::string Address() const { return LoggedAfter("listening on "); }
  // Sends `signal` and waits up to `timeout` for the exit code (-1: still running or killed).
  int SignalAndWait(int signal, std::chrono::seconds timeout);
  const std::string& log() const { return log_; }

 private:
  void DrainLog();  // after the child exited: reads what is left of its stderr

  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  bool exited_ = false;
  std::string log_;
};

}  // namespace tspserve
