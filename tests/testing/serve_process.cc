#include "tests/testing/serve_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

namespace tspserve {

using namespace std::chrono_literals;

ServeProcess::ServeProcess(const std::vector<std::string>& args) {
  int fds[2];
  if (pipe(fds) != 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  stderr_fd_ = fds[0];
  fcntl(stderr_fd_, F_SETFL, O_NONBLOCK);
}

ServeProcess::~ServeProcess() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stderr_fd_ >= 0) close(stderr_fd_);
}

bool ServeProcess::WaitFor(const std::string& text, std::chrono::seconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (log_.find(text) == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left <= 0ms) return false;
    pollfd p{stderr_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(stderr_fd_, buffer, sizeof(buffer));
    if (n == 0) return false;  // the child closed stderr (exited)
    if (n > 0) log_.append(buffer, static_cast<size_t>(n));
  }
  return true;
}

std::string ServeProcess::LoggedAfter(const std::string& key) const {
  const size_t at = log_.find(key);
  if (at == std::string::npos) return "";
  const size_t end = log_.find('\n', at);
  if (end == std::string::npos) return "";
  return log_.substr(at + key.size(), end - at - key.size());
}

int ServeProcess::SignalAndWait(int signal, std::chrono::seconds timeout) {
  kill(pid_, signal);
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      DrainLog();
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(10ms);
  }
  return -1;
}

void ServeProcess::DrainLog() {
  char buffer[4096];
  ssize_t n;
  while ((n = read(stderr_fd_, buffer, sizeof(buffer))) > 0) log_.append(buffer, static_cast<size_t>(n));
}

}  // namespace tspserve
