// Runs the commands that arrive on the uplink on a few worker threads, so a slow one (a
// restart, a long queue) never holds up the log stream or the commands behind it.
//   CommandExecutor executor(actions, 4, [&](CommandResult r) { uplink.Send(...); });
//   executor.Submit(command);
#pragma once

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/exec/action_runner.h"

namespace mailfleet::agent {

class CommandExecutor {
 public:
  using Reply = std::function<void(mailfleet::v1::CommandResult)>;
  // actions must outlive this; reply is called on a worker thread, once per command.
  CommandExecutor(ActionRunner& actions, int workers, Reply reply);
  // Finishes the commands that are running; the ones still waiting are reported cancelled.
  ~CommandExecutor();

  void Submit(mailfleet::v1::Command command);
  // A command that has not started yet is dropped and reported cancelled; one that runs
  // finishes (the runner has no safe point to stop a postsuper half way).
  void Cancel(const std::string& command_id);

 private:
  void Work();
  static mailfleet::v1::CommandResult Cancelled(const mailfleet::v1::Command& command,
                                                const std::string& why);

  ActionRunner& actions_;
  const Reply reply_;
  absl::Mutex mu_;
  std::deque<mailfleet::v1::Command> waiting_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace mailfleet::agent
