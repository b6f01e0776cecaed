#include "agent/exec/action_runner.h"

#include <algorithm>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "agent/exec/queue.h"
#include "common/absl_fmt.h"
#include "common/parse/utf8.h"
#include "common/status_macros.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace mailfleet::agent {
namespace {

using mailfleet::v1::Command;
using mailfleet::v1::CommandResult;
using mailfleet::v1::QueueMessage;

constexpr size_t kOutputCap = 64 * 1024;
constexpr int kMessagesCap = 5000;
constexpr std::chrono::seconds kDefaultTimeout{60};
constexpr std::chrono::seconds kMaxTimeout{600};

// A failure that has an exit status of its own to report.
struct Failure {
  std::string status;  // failed, timeout
  std::string error;
  int exit_code = 1;
};

}  // namespace

int CountPostsuperChanges(std::string_view output) {
  int total = -1;
  while (!output.empty()) {
    size_t nl = output.find('\n');
    std::string_view line = output.substr(0, nl);
    output = nl == std::string_view::npos ? std::string_view() : output.substr(nl + 1);
    // "postsuper: Deleted: 20 messages", "postsuper: Placed on hold: 1 message", ...
    for (std::string_view verb :
         {"Deleted: ", "Placed on hold: ", "Released from hold: ", "Requeued: "}) {
      size_t at = line.find(verb);
      if (at == std::string_view::npos) continue;
      std::string_view rest = line.substr(at + verb.size());
      int n = 0;
      std::string digits(rest.substr(0, rest.find(' ')));
      if (absl::SimpleAtoi(digits, &n)) total = std::max(total, 0) + n;
    }
  }
  return total;
}

// One command's run: its deadline, the commands it ran and their output.
class ActionRunner::Run_ {
 public:
  Run_(ProcessRunner& runner, const Clock& clock, const ActionRunnerOptions& options,
       const Command& command)
      : runner_(runner), clock_(clock), options_(options), command_(command) {
    auto timeout = command.timeout_seconds() > 0
                       ? std::min<std::chrono::seconds>(
                             std::chrono::seconds(command.timeout_seconds()), kMaxTimeout)
                       : kDefaultTimeout;
    deadline_ = clock.SteadyNow() + timeout;
    result_.mutable_result()->set_dry_run(command.dry_run());
  }

  CommandResult Finish() {
    result_.set_command_id(command_.command_id());
    result_.set_final(true);
    auto risk = actions::ValidateCommand(command_.action(), command_.params(), command_.filter());
    if (!risk.ok()) return Refuse(std::string(risk.status().message()));
    if (options_.forbidden.contains(*risk)) {
      return Refuse(fmt::format(
          "this agent's policy forbids {} actions such as {} (actions.forbid in its config)",
          actions::RiskName(*risk), command_.action()));
    }
    absl::Status done = Dispatch();
    if (failure_) {
      result_.set_status(failure_->status);
      result_.set_error(failure_->error);
      result_.set_exit_code(failure_->exit_code);
    } else if (!done.ok()) {
      result_.set_status("failed");
      result_.set_error(std::string(done.message()));
      result_.set_exit_code(1);
    } else {
      result_.set_status("ok");
      result_.set_exit_code(0);
    }
    return std::move(result_);
  }

 private:
  mailfleet::v1::ActionResult& out() { return *result_.mutable_result(); }

  CommandResult Refuse(std::string why) {
    result_.set_status("refused");
    result_.set_error(std::move(why));
    result_.set_exit_code(1);
    return std::move(result_);
  }

  std::vector<std::string> Postfix(std::string program, std::vector<std::string> args) const {
    std::vector<std::string> argv = {std::move(program), "-c", options_.postfix_config_dir};
    argv.insert(argv.end(), std::make_move_iterator(args.begin()),
                std::make_move_iterator(args.end()));
    return argv;
  }

  void AppendOutput(std::string_view text) {
    std::string& o = *out().mutable_output();
    if (o.size() >= kOutputCap) return;
    o.append(parse::ToValidUtf8(text.substr(0, kOutputCap - o.size())));
  }

  // Runs argv (recorded in the result) within what is left of the deadline. A non-zero
  // exit, a timeout or a missing program ends the action: Failure is set and an error returned.
  absl::StatusOr<RunResult> Exec(std::vector<std::string> argv) {
    out().add_commands(fmt::format("{}", fmt::join(argv, " ")));
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - clock_.SteadyNow());
    if (left.count() <= 0) return Fail("timeout", "the command's time ran out", 124);
    RunOptions run{.argv = std::move(argv), .timeout = left, .output_cap = 8 << 20};
    auto result = runner_.Run(run);
    if (!result.ok()) return Fail("failed", std::string(result.status().message()), 127);
    AppendOutput(result->out);
    AppendOutput(result->err);
    if (result->timed_out) {
      return Fail("timeout", fmt::format("`{}` timed out", run.argv[0]), 124);
    }
    if (!result->ok()) {
      return Fail("failed",
                  fmt::format("`{}` failed: {}", fmt::join(run.argv, " "), result->Describe()),
                  result->exit_code == 0 ? 1 : result->exit_code);
    }
    return result;
  }

  absl::Status Fail(std::string status, std::string error, int exit_code) {
    if (!failure_) failure_ = Failure{status, error, exit_code};
    return absl::AbortedError(error);
  }

  absl::StatusOr<std::vector<QueueMessage>> ListQueue() {
    ASSIGN_OR_RETURN(RunResult run, Exec(Postfix("postqueue", {"-j"})));
    auto messages = ParsePostqueueJson(run.out);
    if (!messages.ok()) return Fail("failed", std::string(messages.status().message()), 1);
    // The listing itself is data, not output worth keeping twice.
    out().clear_output();
    return messages;
  }

  // The queue messages the filter selects, recorded in the result.
  absl::StatusOr<std::vector<QueueMessage>> Select(bool (*extra)(const QueueMessage&)) {
    ASSIGN_OR_RETURN(auto all, ListQueue());
    int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
    std::vector<QueueMessage> matched;
    for (auto& m : all) {
      if (!MatchesFilter(m, command_.filter(), now)) continue;
      if (extra != nullptr && !extra(m)) continue;
      // Ids come from Postfix, but nothing reaches an argv unchecked.
      if (!actions::ValidateQueueId(m.queue_id()).ok()) continue;
      matched.push_back(std::move(m));
    }
    out().set_matched(static_cast<uint32_t>(matched.size()));
    for (const auto& m : matched) {
      if (out().messages_size() >= kMessagesCap) {
        out().set_messages_truncated(true);
        break;
      }
      *out().add_messages() = m;
    }
    return matched;
  }

  bool Everything() const {
    const auto& f = command_.filter();
    return command_.params().contains("everything") && f.queue_ids().empty() && f.from().empty() &&
           f.to().empty() && f.older_than_seconds() == 0 && f.younger_than_seconds() == 0 &&
           f.reason().empty() && f.min_size() == 0 && f.queues_size() <= 1;
  }

  absl::Status Dispatch() {
    const std::string& action = command_.action();
    if (action == "queue.list") return Select(nullptr).status();
    if (action == "queue.flush" || action == "queue.deliver") return Flush();
    if (action == "queue.hold")
      return Postsuper("-h", "put on hold",
                       [](const QueueMessage& m) { return m.queue_name() != "hold"; });
    if (action == "queue.release") {
      return Postsuper("-H", "released",
                       [](const QueueMessage& m) { return m.queue_name() == "hold"; });
    }
    if (action == "queue.requeue") return Postsuper("-r", "requeued", nullptr);
    if (action == "queue.delete") return Postsuper("-d", "deleted", nullptr);
    if (action == "service.postfix") return PostfixService(command_.params().at("op"));
    if (action == "service.dovecot") return DovecotService(command_.params().at("op"));
    if (action == "auth.cache_flush") {
      RETURN_IF_ERROR(
          Exec({"doveadm", "-c", options_.dovecot_config, "auth", "cache", "flush"}).status());
      out().set_summary("Dovecot's auth cache flushed");
      return absl::OkStatus();
    }
    return absl::UnimplementedError(fmt::format(
        "this agent cannot run '{}' yet; upgrade it to the collector's version", action));
  }

  absl::Status Flush() {
    const auto& f = command_.filter();
    bool filtered = !(f.queue_ids().empty() && f.queues().empty() && f.from().empty() &&
                      f.to().empty() && f.older_than_seconds() == 0 &&
                      f.younger_than_seconds() == 0 && f.reason().empty() && f.min_size() == 0);
    if (!filtered) {
      ASSIGN_OR_RETURN(auto matched, Select(nullptr));
      if (command_.dry_run()) {
        out().add_commands(fmt::format("{}", fmt::join(Postfix("postqueue", {"-f"}), " ")));
        out().set_summary(fmt::format("would flush the queue ({} messages)", matched.size()));
        return absl::OkStatus();
      }
      RETURN_IF_ERROR(Exec(Postfix("postqueue", {"-f"})).status());
      out().set_changed(static_cast<uint32_t>(matched.size()));
      out().set_summary(fmt::format("queue flushed ({} messages)", matched.size()));
      return absl::OkStatus();
    }
    // postqueue -i schedules one deferred message; others are already on their way or held.
    ASSIGN_OR_RETURN(auto matched,
                     Select([](const QueueMessage& m) { return m.queue_name() == "deferred"; }));
    for (const auto& m : matched) {
      if (command_.dry_run()) {
        out().add_commands(
            fmt::format("{}", fmt::join(Postfix("postqueue", {"-i", m.queue_id()}), " ")));
        continue;
      }
      RETURN_IF_ERROR(Exec(Postfix("postqueue", {"-i", m.queue_id()})).status());
    }
    if (!command_.dry_run()) out().set_changed(static_cast<uint32_t>(matched.size()));
    out().set_summary(fmt::format("{} {} deferred messages",
                                  command_.dry_run() ? "would flush" : "flushed", matched.size()));
    return absl::OkStatus();
  }

  absl::Status Postsuper(const std::string& flag, std::string_view done,
                         bool (*eligible)(const QueueMessage&)) {
    ASSIGN_OR_RETURN(auto matched, Select(eligible));
    std::vector<std::vector<std::string>> lines;
    if (Everything()) {
      // The whole queue (or one queue), as postsuper spells it.
      std::vector<std::string> args = {flag, "ALL"};
      if (command_.filter().queues_size() == 1) args.push_back(command_.filter().queues(0));
      lines.push_back(Postfix("postsuper", args));
    } else {
      for (size_t i = 0; i < matched.size(); i += kIdsPerCommand) {
        std::vector<std::string> args;
        for (size_t j = i; j < std::min(matched.size(), i + kIdsPerCommand); ++j) {
          args.push_back(flag);
          args.push_back(matched[j].queue_id());
        }
        lines.push_back(Postfix("postsuper", args));
      }
    }
    if (command_.dry_run()) {
      for (const auto& argv : lines) out().add_commands(fmt::format("{}", fmt::join(argv, " ")));
      out().set_summary(fmt::format("would have {} messages {}", matched.size(), done));
      return absl::OkStatus();
    }
    int changed = 0;
    for (auto& argv : lines) {
      ASSIGN_OR_RETURN(RunResult run, Exec(std::move(argv)));
      // postsuper prints no count line when it changed nothing.
      changed += std::max(CountPostsuperChanges(run.err + run.out), 0);
    }
    out().set_changed(static_cast<uint32_t>(changed));
    out().set_summary(fmt::format("{} of {} matching messages {}", changed, matched.size(), done));
    return absl::OkStatus();
  }

  // Runs argv for its effect only: a failure is recorded in the output, not fatal.
  bool Tolerate(std::vector<std::string> argv) {
    out().add_commands(fmt::format("{}", fmt::join(argv, " ")));
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - clock_.SteadyNow());
    auto result = runner_.Run(
        {.argv = std::move(argv), .timeout = std::max(left, std::chrono::milliseconds(1))});
    if (!result.ok()) {
      AppendOutput(std::string(result.status().message()));
      return false;
    }
    AppendOutput(result->out);
    AppendOutput(result->err);
    return result->ok();
  }

  absl::Status PostfixService(const std::string& op) {
    if (options_.use_systemd) {
      RETURN_IF_ERROR(Exec({"systemctl", op, "postfix.service"}).status());
    } else if (op == "restart") {
      // `postfix stop` fails when Postfix is not running; the start that follows is then
      // the whole restart.
      Tolerate(Postfix("postfix", {"stop"}));
      RETURN_IF_ERROR(Exec(Postfix("postfix", {"start"})).status());
    } else {
      RETURN_IF_ERROR(Exec(Postfix("postfix", {op})).status());
    }
    out().set_summary(fmt::format("postfix {}: done", op));
    return absl::OkStatus();
  }

  absl::Status DovecotService(const std::string& op) {
    const std::string& conf = options_.dovecot_config;
    if (options_.use_systemd) {
      RETURN_IF_ERROR(Exec({"systemctl", op, "dovecot.service"}).status());
    } else if (op == "start") {
      RETURN_IF_ERROR(Exec({"dovecot", "-c", conf}).status());
    } else if (op == "stop") {
      RETURN_IF_ERROR(Exec({"doveadm", "-c", conf, "stop"}).status());
    } else if (op == "reload") {
      RETURN_IF_ERROR(Exec({"doveadm", "-c", conf, "reload"}).status());
    } else {
      Tolerate({"doveadm", "-c", conf, "stop"});
      // The old master may take a moment to let go of its pid file and sockets.
      for (int attempt = 0; attempt < 30; ++attempt) {
        if (clock_.SteadyNow() >= deadline_) break;
        if (Tolerate({"dovecot", "-c", conf})) {
          out().set_summary("dovecot restart: done");
          return absl::OkStatus();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      return Fail("failed", "dovecot did not start again after stopping; see the output", 1);
    }
    out().set_summary(fmt::format("dovecot {}: done", op));
    return absl::OkStatus();
  }

  ProcessRunner& runner_;
  const Clock& clock_;
  const ActionRunnerOptions& options_;
  const Command& command_;
  std::chrono::steady_clock::time_point deadline_;
  CommandResult result_;
  std::optional<Failure> failure_;
};

ActionRunner::ActionRunner(ProcessRunner& runner, const Clock& clock, ActionRunnerOptions options)
    : runner_(runner), clock_(clock), options_(std::move(options)) {}

CommandResult ActionRunner::Run(const Command& command) {
  return Run_(runner_, clock_, options_, command).Finish();
}

}  // namespace mailfleet::agent
