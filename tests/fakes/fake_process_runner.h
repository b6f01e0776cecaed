// A ProcessRunner for unit tests: answers argv lines from a table of recorded outputs and
// remembers every call. An argv with no entry fails as "not found", like a missing program.
//   FakeProcessRunner runner;
//   runner.Answer({"postconf", "-c", "/etc/postfix", "-h", "mail_version"}, {.out = "3.7.11\n"});
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/process_runner.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace mailfleet::testing {

class FakeProcessRunner final : public ProcessRunner {
 public:
  void Answer(std::vector<std::string> argv, RunResult result) {
    absl::MutexLock lock(&mu_);
    answers_[std::move(argv)] = std::move(result);
  }

  absl::StatusOr<RunResult> Run(const RunOptions& options) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(options.argv);
    auto it = answers_.find(options.argv);
    if (it == answers_.end()) {
      return absl::NotFoundError(fmt::format("'{}' not found (no answer recorded for `{}`)",
                                             options.argv[0], fmt::join(options.argv, " ")));
    }
    return it->second;
  }

  std::vector<std::vector<std::string>> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::vector<std::string>, RunResult> answers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<std::string>> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mailfleet::testing
