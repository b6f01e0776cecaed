#include "agent/exec/command_executor.h"

#include "common/thread_name.h"
#include "spdlog/spdlog.h"

namespace mailfleet::agent {

CommandExecutor::CommandExecutor(ActionRunner& actions, int workers, Reply reply)
    : actions_(actions), reply_(std::move(reply)) {
  for (int i = 0; i < workers; ++i) {
    workers_.emplace_back([this] {
      NameThisThread("mf-command");
      Work();
    });
  }
}

CommandExecutor::~CommandExecutor() {
  std::deque<mailfleet::v1::Command> left;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    left.swap(waiting_);
  }
  for (auto& t : workers_) t.join();
  for (const auto& c : left) reply_(Cancelled(c, "the agent stopped before running it"));
}

mailfleet::v1::CommandResult CommandExecutor::Cancelled(const mailfleet::v1::Command& command,
                                                        const std::string& why) {
  mailfleet::v1::CommandResult r;
  r.set_command_id(command.command_id());
  r.set_final(true);
  r.set_status("cancelled");
  r.set_exit_code(1);
  r.set_error(why);
  return r;
}

void CommandExecutor::Submit(mailfleet::v1::Command command) {
  absl::MutexLock lock(&mu_);
  waiting_.push_back(std::move(command));
}

void CommandExecutor::Cancel(const std::string& command_id) {
  std::optional<mailfleet::v1::Command> dropped;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      if (it->command_id() == command_id) {
        dropped = std::move(*it);
        waiting_.erase(it);
        break;
      }
    }
  }
  if (dropped) reply_(Cancelled(*dropped, "cancelled before it started"));
}

void CommandExecutor::Work() {
  for (;;) {
    mailfleet::v1::Command command;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](CommandExecutor* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) {
            return e->stopping_ || !e->waiting_.empty();
          },
          this));
      if (stopping_) return;
      command = std::move(waiting_.front());
      waiting_.pop_front();
    }
    spdlog::info("command {}: {}{} (from {})", command.command_id(), command.action(),
                 command.dry_run() ? " (dry run)" : "", command.requested_by());
    auto result = actions_.Run(command);
    if (result.status() == "ok") {
      spdlog::info("command {}: ok: {}", command.command_id(), result.result().summary());
    } else {
      spdlog::warn("command {}: {}: {}", command.command_id(), result.status(), result.error());
    }
    reply_(std::move(result));
  }
}

}  // namespace mailfleet::agent
