#include "common/process_runner.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "fmt/format.h"

namespace mailfleet {
namespace {

std::string FindExecutable(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  std::string_view path = "/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : env) {
    if (std::string_view(e).starts_with("PATH=")) path = std::string_view(e).substr(5);
  }
  while (!path.empty()) {
    auto colon = path.find(':');
    std::string_view dir = path.substr(0, colon);
    std::string candidate = fmt::format("{}/{}", dir, name);
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return "";
}

void Append(std::string* to, const char* data, size_t n, size_t cap, bool* truncated) {
  size_t room = to->size() < cap ? cap - to->size() : 0;
  if (n > room) *truncated = true;
  to->append(data, std::min(n, room));
}

}  // namespace

std::string RunResult::Describe() const {
  std::string_view text = err.empty() ? std::string_view(out) : std::string_view(err);
  auto nl = text.find('\n');
  std::string_view first = text.substr(0, nl);
  if (timed_out) return fmt::format("timed out; {}", first);
  if (signal != 0) return fmt::format("killed by signal {}; {}", signal, first);
  return fmt::format("exit {}: {}", exit_code, first);
}

absl::StatusOr<RunResult> RealProcessRunner::Run(const RunOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::string exe = FindExecutable(options.argv[0], options.env);
  if (exe.empty()) {
    return absl::NotFoundError(
        fmt::format("'{}' not found or not executable (PATH of the run)", options.argv[0]));
  }
  std::vector<char*> argv;
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : options.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const char* cwd = options.cwd.empty() ? "/" : options.cwd.c_str();

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError("pipe failed");
  }
  pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    return absl::ResourceExhaustedError(fmt::format("fork failed: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    setsid();
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (options.gid && (setgroups(0, nullptr) != 0 || setgid(*options.gid) != 0)) _exit(126);
    if (options.uid && setuid(*options.uid) != 0) _exit(126);
    if (chdir(cwd) != 0) _exit(126);
    execve(exe.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);

  RunResult result;
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[16384];
  // A program that starts a daemon (dovecot, postfix start) may leave the daemon holding its
  // output pipes: once the program itself has exited, what is left is read for a moment and
  // the run ends, rather than waiting for an end of file that never comes.
  constexpr auto kDrainAfterExit = std::chrono::milliseconds(100);
  constexpr int kExitCheckMs = 50;
  bool exited = false;
  int status = 0;
  std::chrono::steady_clock::time_point drain_until;
  while (open_fds > 0) {
    auto now = std::chrono::steady_clock::now();
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      drain_until = now + kDrainAfterExit;
    }
    auto until = exited ? std::min(deadline, drain_until) : deadline;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
    if (left.count() <= 0) {
      if (!exited) {
        result.timed_out = true;
        kill(-pid, SIGKILL);
      }
      break;
    }
    int wait_ms = static_cast<int>(std::min<int64_t>(left.count(), kExitCheckMs));
    int n = poll(fds, 2, wait_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        Append(i == 0 ? &result.out : &result.err, buf, static_cast<size_t>(got),
               options.output_cap, &result.truncated);
      } else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  // Whatever is already in the pipes is the program's output too; a daemon that kept them
  // may add more, which is dropped (and flagged).
  for (int i = 0; i < 2 && exited; ++i) {
    if (fds[i].fd < 0) continue;
    int flags = fcntl(fds[i].fd, F_GETFL);
    fcntl(fds[i].fd, F_SETFL, flags | O_NONBLOCK);
    for (size_t drained = 0; drained < (size_t{64} << 20);) {
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got <= 0) break;
      drained += static_cast<size_t>(got);
      Append(i == 0 ? &result.out : &result.err, buf, static_cast<size_t>(got), options.output_cap,
             &result.truncated);
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  while (!exited && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
    if (result.exit_code == 127 && result.err.empty()) {
      result.err = fmt::format("could not execute {}", exe);
    }
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace mailfleet
