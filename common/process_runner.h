// The one place that starts processes: an argv (never a shell string), a timeout, an output
// cap and a clean environment. Unit tests substitute a fake ProcessRunner.
//   RealProcessRunner runner;
//   ASSIGN_OR_RETURN(RunResult r, runner.Run({.argv = {"postconf", "-h", "mail_version"}}));
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mailfleet {

struct RunOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in the PATH of `env` unless absolute
  std::chrono::milliseconds timeout{10'000};
  size_t output_cap = 1 << 20;  // bytes kept per stream; the rest is read and dropped
  // The child's whole environment. The default keeps nothing of ours.
  std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};
  std::optional<uid_t> uid;  // run as this user (and gid) when set; needs root
  std::optional<gid_t> gid;
  std::string cwd;  // empty: "/"
};

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // the signal that ended it, or 0
  bool timed_out = false;
  bool truncated = false;  // output passed the cap
  std::string out;
  std::string err;

  bool ok() const { return exit_code == 0 && !timed_out; }
  // "exit 1: <first line of stderr>" and the like, for error messages.
  std::string Describe() const;
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Fails only when the process could not be started (not found, fork failed); a non-zero
  // exit is a RunResult. Thread-safe.
  virtual absl::StatusOr<RunResult> Run(const RunOptions& options) = 0;
};

class RealProcessRunner final : public ProcessRunner {
 public:
  absl::StatusOr<RunResult> Run(const RunOptions& options) override;
};

}  // namespace mailfleet
