#include "agent/exec/action_runner.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent/exec/checks.h"
#include "agent/exec/queue.h"
#include "common/absl_fmt.h"
#include "common/files.h"
#include "common/parse/utf8.h"
#include "common/status_macros.h"
#include "common/text.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "spdlog/spdlog.h"

namespace mailfleet::agent {
namespace {

using mailfleet::v1::Command;
using mailfleet::v1::CommandResult;
using mailfleet::v1::QueueMessage;

constexpr size_t kOutputCap = 64 * 1024;
constexpr int kMessagesCap = 5000;
constexpr size_t kListingBytes = 3 << 20;  // under gRPC's default 4 MiB message limit
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
  for (std::string_view line : SplitLines(output)) {
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
       const Command& command, absl::Mutex* debug_mu, absl::Mutex* change_mu)
      : runner_(runner),
        clock_(clock),
        options_(options),
        command_(command),
        debug_mu_(debug_mu),
        change_mu_(change_mu) {
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
    // Changes to one host go one at a time (two postconf -e on main.cf must not interleave);
    // reading runs beside them.
    std::optional<absl::MutexLock> change_lock;
    if (*risk != actions::Risk::kRead) change_lock.emplace(change_mu_);
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
    // The output cap may cut the listing right after a newline: every line left would parse
    // and the action would run on part of the queue.
    if (run.truncated) {
      return Fail("failed",
                  "`postqueue -j` printed more than the agent reads (8 MiB), so the queue was not "
                  "read whole and nothing was changed; for a queue this large use postqueue and "
                  "postsuper on the host",
                  1);
    }
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
    // The listing travels in one message: at most kMessagesCap messages and kListingBytes.
    size_t bytes = 0;
    for (const auto& m : matched) {
      bytes += m.ByteSizeLong() + 8;
      if (out().messages_size() >= kMessagesCap || bytes > kListingBytes) {
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
    if (action == "diagnose") return Diagnose();
    if (action == "config.snapshot") return Snapshot();
    if (action == "config.restore") {
      RETURN_IF_ERROR(RestoreMainCf(command_.params().at("postconf_n")));
      if (!command_.dry_run()) Tolerate(Postfix("postfix", {"reload"}));
      return absl::OkStatus();
    }
    if (action == "emergency.reset") return EmergencyReset();
    if (action == "emergency.restore") return EmergencyRestore();
    if (action == "debug.on") return DebugOn();
    if (action == "debug.off") return DebugOff();
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

  // --- diagnose -------------------------------------------------------------------------------

  absl::Status Diagnose() {
    DiagnoseOptions d{.agent_name = options_.agent_name,
                      .postfix_config_dir = options_.postfix_config_dir,
                      .dovecot_config = options_.dovecot_config,
                      .auth_probe_user = options_.auth_probe_user,
                      .auth_probe_password = options_.auth_probe_password,
                      .maildir_users = options_.maildir_users};
    const auto& p = command_.params();
    auto number = [&](const char* key, int64_t* into) {
      if (auto it = p.find(key); it != p.end()) *into = std::stoll(it->second);
    };
    number("queue_warn", &d.queue_warn);
    number("queue_fail", &d.queue_fail);
    number("age_warn", &d.age_warn);
    number("age_fail", &d.age_fail);
    if (auto it = p.find("checks"); it != p.end()) {
      for (const std::string& c :
           std::vector<std::string>(absl::StrSplit(it->second, ',', absl::SkipEmpty())))
        d.selected.push_back(c);
    }
    if (auto it = p.find("peers"); it != p.end()) {
      for (const std::string& peer :
           std::vector<std::string>(absl::StrSplit(it->second, ',', absl::SkipEmpty()))) {
        size_t eq = peer.find('=');
        if (eq != std::string::npos) d.peers.emplace_back(peer.substr(0, eq), peer.substr(eq + 1));
      }
    }
    RunChecks(runner_, clock_, d, &out());
    std::map<std::string, int> by_status;
    for (const auto& c : out().checks()) ++by_status[c.status()];
    out().set_summary(fmt::format("{} checks: {} ok, {} warn, {} fail, {} unknown",
                                  out().checks_size(), by_status["ok"], by_status["warn"],
                                  by_status["fail"], by_status["unknown"]));
    return absl::OkStatus();
  }

  // --- config snapshots, restore and the emergency configuration ---------------------------

  absl::StatusOr<std::string> PostconfN() {
    ASSIGN_OR_RETURN(RunResult run, Exec(Postfix("postconf", {"-n"})));
    out().clear_output();
    return run.out;
  }

  absl::Status Snapshot() {
    ASSIGN_OR_RETURN(std::string postconf, PostconfN());
    auto& values = *out().mutable_values();
    values["postconf_n"] = parse::ToValidUtf8(postconf);
    auto master = ReadFile(options_.postfix_config_dir + "/master.cf", 1 << 20);
    values["master_cf"] = master.ok() ? parse::ToValidUtf8(*master) : "";
    if (!master.ok()) values["master_cf_error"] = std::string(master.status().message());
    out().add_commands(fmt::format("doveconf -c {} -n", options_.dovecot_config));
    auto dove = runner_.Run({.argv = {"doveconf", "-c", options_.dovecot_config, "-n"}});
    if (dove.ok() && dove->ok()) {
      values["doveconf_n"] = parse::ToValidUtf8(dove->out);
    } else {
      values["doveconf_error"] =
          dove.ok() ? dove->Describe() : std::string(dove.status().message());
    }
    auto lines = [](const std::string& t) { return std::count(t.begin(), t.end(), '\n'); };
    out().set_summary(
        fmt::format("snapshot: {} Postfix parameters, master.cf {} lines, "
                    "doveconf -n {} lines",
                    lines(postconf), lines(values["master_cf"]), lines(values["doveconf_n"])));
    return absl::OkStatus();
  }

  // Sets main.cf's parameters to exactly those of `wanted` (postconf -n text): postconf -X
  // for the extra ones, postconf -e for the different ones, then postfix check and a
  // byte-for-byte comparison of postconf -n with wanted.
  absl::Status RestoreMainCf(const std::string& wanted) {
    ASSIGN_OR_RETURN(auto target, actions::ParsePostconfN(wanted));
    ASSIGN_OR_RETURN(std::string now_text, PostconfN());
    ASSIGN_OR_RETURN(auto now, actions::ParsePostconfN(now_text));
    std::map<std::string, std::string> current(now.begin(), now.end());
    std::set<std::string> keep;
    std::vector<std::string> set_args, remove_args;
    for (const auto& [name, value] : target) {
      keep.insert(name);
      auto it = current.find(name);
      if (it == current.end() || it->second != value) {
        set_args.push_back(fmt::format("{} = {}", name, value));
      }
    }
    for (const auto& [name, value] : now) {
      if (!keep.contains(name)) remove_args.push_back(name);
    }
    std::vector<std::vector<std::string>> lines;
    if (!remove_args.empty()) {
      std::vector<std::string> args = {"-X"};
      args.insert(args.end(), remove_args.begin(), remove_args.end());
      lines.push_back(Postfix("postconf", args));
    }
    for (size_t i = 0; i < set_args.size(); i += 50) {
      std::vector<std::string> args = {"-e"};
      for (size_t j = i; j < std::min(set_args.size(), i + 50); ++j) args.push_back(set_args[j]);
      lines.push_back(Postfix("postconf", args));
    }
    if (command_.dry_run()) {
      for (const auto& argv : lines) out().add_commands(fmt::format("{}", fmt::join(argv, " ")));
      out().set_summary(fmt::format("would change {} and remove {} parameters", set_args.size(),
                                    remove_args.size()));
      return absl::OkStatus();
    }
    for (auto& argv : lines) RETURN_IF_ERROR(Exec(std::move(argv)).status());
    if (absl::Status checked = Exec(Postfix("postfix", {"check"})).status(); !checked.ok()) {
      // Never leave a main.cf that postfix check refuses for the next reload: put back the
      // parameters as they were.
      std::set<std::string> had;
      std::vector<std::string> back = {"-e"};
      for (const auto& [name, value] : now) {
        had.insert(name);
        back.push_back(fmt::format("{} = {}", name, value));
      }
      std::vector<std::string> added = {"-X"};
      for (const auto& [name, value] : target) {
        if (!had.contains(name)) added.push_back(name);
      }
      if (added.size() > 1) Tolerate(Postfix("postconf", added));
      if (back.size() > 1) Tolerate(Postfix("postconf", back));
      failure_->error += "; main.cf was put back as it was before the restore";
      return checked;
    }
    ASSIGN_OR_RETURN(std::string after, PostconfN());
    auto trimmed = [](std::string t) {
      while (!t.empty() && t.back() == '\n') t.pop_back();
      return t;
    };
    if (trimmed(after) != trimmed(wanted)) {
      return Fail("failed",
                  "after the restore, postconf -n still differs from the saved configuration; "
                  "compare them with `mailfleet config diff`",
                  1);
    }
    out().set_changed(static_cast<uint32_t>(set_args.size() + remove_args.size()));
    out().set_summary(fmt::format(
        "main.cf restored: {} parameters set, {} removed; postconf -n matches byte for byte",
        set_args.size(), remove_args.size()));
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> StatePath(std::string_view name) {
    if (options_.state_dir.empty()) {
      return Fail("failed", "this agent has no state folder (--state-dir) to keep it in", 1);
    }
    return fmt::format("{}/{}", options_.state_dir, name);
  }

  absl::Status RestartPostfix() {
    if (options_.use_systemd) return Exec({"systemctl", "restart", "postfix.service"}).status();
    Tolerate(Postfix("postfix", {"stop"}));
    return Exec(Postfix("postfix", {"start"})).status();
  }

  absl::Status EmergencyReset() {
    ASSIGN_OR_RETURN(std::string backup_path, StatePath("emergency-postconf-n"));
    std::vector<std::string> argv =
        Postfix("postconf", {"-e", "inet_interfaces = loopback-only", "mydestination = localhost"});
    if (command_.dry_run()) {
      out().add_commands(fmt::format("{}", fmt::join(argv, " ")));
      out().set_summary(
          "would save main.cf's parameters, set the minimal configuration and "
          "restart Postfix");
      return absl::OkStatus();
    }
    // The first reset's backup is the one to return to; a second reset keeps it.
    auto existing = ReadFile(backup_path);
    std::string backup;
    if (existing.ok()) {
      backup = *existing;
      out().mutable_values()->insert({"note",
                                      "an emergency reset was in force already; its "
                                      "backup of the original is kept"});
    } else {
      ASSIGN_OR_RETURN(backup, PostconfN());
      if (auto s = WriteFileAtomically(backup_path, backup); !s.ok()) {
        return Fail("failed", std::string(s.message()), 1);
      }
    }
    (*out().mutable_values())["backup"] = parse::ToValidUtf8(backup);
    RETURN_IF_ERROR(Exec(std::move(argv)).status());
    RETURN_IF_ERROR(RestartPostfix());
    out().set_changed(2);
    out().set_summary(fmt::format(
        "minimal configuration in force (inet_interfaces = loopback-only, mydestination = "
        "localhost); the original is saved in {}; `mailfleet emergency restore` puts it back",
        backup_path));
    return absl::OkStatus();
  }

  absl::Status EmergencyRestore() {
    ASSIGN_OR_RETURN(std::string backup_path, StatePath("emergency-postconf-n"));
    auto backup = ReadFile(backup_path);
    if (!backup.ok()) {
      return Fail("failed",
                  backup.status().code() == absl::StatusCode::kNotFound
                      ? "no emergency reset is in force on this host (no backup to restore)"
                      : std::string(backup.status().message()),
                  1);
    }
    RETURN_IF_ERROR(RestoreMainCf(*backup));
    if (command_.dry_run()) return absl::OkStatus();
    RETURN_IF_ERROR(RestartPostfix());
    std::remove(backup_path.c_str());
    out().set_summary(
        "the configuration from before the emergency reset is back (postconf -n "
        "matches byte for byte); Postfix restarted");
    return absl::OkStatus();
  }

  // --- temporary debug logging --------------------------------------------------------------
  // The state file holds key=value lines: postfix_until, postfix_list (the old
  // debug_peer_list line, or "-" when main.cf did not set it), postfix_level, dovecot_until.

  static constexpr std::string_view kDovecotBegin =
      "# mailfleet debug: begin (mailfleet-agent removes this block)";
  static constexpr std::string_view kDovecotEnd = "# mailfleet debug: end";

  std::map<std::string, std::string> LoadDebugState(const std::string& path) {
    std::map<std::string, std::string> state;
    auto text = ReadFile(path);
    if (!text.ok()) return state;
    for (std::string_view line : SplitLines(*text)) {
      size_t eq = line.find('=');
      if (eq != std::string_view::npos)
        state[std::string(line.substr(0, eq))] = line.substr(eq + 1);
    }
    return state;
  }

  absl::Status SaveDebugState(const std::string& path,
                              const std::map<std::string, std::string>& state) {
    if (state.empty()) {
      std::remove(path.c_str());
      return absl::OkStatus();
    }
    std::string text;
    for (const auto& [k, v] : state) text += fmt::format("{}={}\n", k, v);
    auto s = WriteFileAtomically(path, text);
    if (!s.ok()) return Fail("failed", std::string(s.message()), 1);
    return absl::OkStatus();
  }

  int64_t NowSeconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch())
        .count();
  }

  std::string DebugService() const {
    auto it = command_.params().find("service");
    return it == command_.params().end() ? "both" : it->second;
  }

  absl::Status DebugOn() {
    ASSIGN_OR_RETURN(std::string path, StatePath("debug-state"));
    absl::MutexLock lock(debug_mu_);
    auto state = LoadDebugState(path);
    std::string service = DebugService();
    int64_t ttl = std::stoll(command_.params().at("ttl"));
    std::string until = std::to_string(NowSeconds() + ttl);
    auto param = [&](const char* key, const char* fallback) {
      auto it = command_.params().find(key);
      return it == command_.params().end() ? std::string(fallback) : it->second;
    };
    std::vector<std::string> done;
    if (service == "postfix" || service == "both") {
      if (!state.contains("postfix_until")) {
        // Remember what main.cf said, once: a second debug.on only extends the time.
        ASSIGN_OR_RETURN(RunResult old,
                         Exec(Postfix("postconf", {"-n", "debug_peer_list", "debug_peer_level"})));
        out().clear_output();
        ASSIGN_OR_RETURN(auto set, actions::ParsePostconfN(old.out));
        state["postfix_list"] = "-";
        state["postfix_level"] = "-";
        for (const auto& [k, v] : set) {
          state[k == "debug_peer_list" ? "postfix_list" : "postfix_level"] = v;
        }
      }
      state["postfix_until"] = until;
      RETURN_IF_ERROR(SaveDebugState(path, state));
      RETURN_IF_ERROR(
          Exec(Postfix("postconf", {"-e", "debug_peer_list = " + param("peers", "0.0.0.0/0"),
                                    "debug_peer_level = " + param("level", "2")}))
              .status());
      Tolerate(Postfix("postfix", {"reload"}));
      done.push_back("postfix");
    }
    if (service == "dovecot" || service == "both") {
      if (!state.contains("dovecot_until")) {
        auto conf = ReadFile(options_.dovecot_config);
        if (!conf.ok()) return Fail("failed", std::string(conf.status().message()), 1);
        std::string text = *conf;
        if (!text.empty() && text.back() != '\n') text += '\n';
        text +=
            fmt::format("{}\nauth_debug = yes\nmail_debug = yes\n{}\n", kDovecotBegin, kDovecotEnd);
        state["dovecot_until"] = until;
        RETURN_IF_ERROR(SaveDebugState(path, state));
        if (auto s = WriteFileAtomically(options_.dovecot_config, text, 0644); !s.ok()) {
          return Fail("failed", std::string(s.message()), 1);
        }
      } else {
        state["dovecot_until"] = until;
        RETURN_IF_ERROR(SaveDebugState(path, state));
      }
      Tolerate({"doveadm", "-c", options_.dovecot_config, "reload"});
      done.push_back("dovecot");
    }
    out().set_summary(
        fmt::format("debug logging on for {} for {} s; the agent turns it off by "
                    "itself",
                    fmt::join(done, " and "), ttl));
    return absl::OkStatus();
  }

  // Puts back what debug.on changed for `service` (postfix or dovecot).
  absl::Status RevertDebug(std::map<std::string, std::string>& state, const std::string& service) {
    if (service == "postfix" && state.contains("postfix_until")) {
      std::vector<std::string> set, remove;
      for (auto [key, name] : {std::pair{"postfix_list", "debug_peer_list"},
                               std::pair{"postfix_level", "debug_peer_level"}}) {
        if (state[key] == "-") {
          remove.push_back(name);
        } else {
          set.push_back(fmt::format("{} = {}", name, state[key]));
        }
      }
      if (!remove.empty()) {
        remove.insert(remove.begin(), "-X");
        RETURN_IF_ERROR(Exec(Postfix("postconf", remove)).status());
      }
      if (!set.empty()) {
        set.insert(set.begin(), "-e");
        RETURN_IF_ERROR(Exec(Postfix("postconf", set)).status());
      }
      Tolerate(Postfix("postfix", {"reload"}));
      state.erase("postfix_until");
      state.erase("postfix_list");
      state.erase("postfix_level");
    }
    if (service == "dovecot" && state.contains("dovecot_until")) {
      auto conf = ReadFile(options_.dovecot_config);
      if (!conf.ok()) return Fail("failed", std::string(conf.status().message()), 1);
      std::string text = *conf;
      size_t begin = text.find(kDovecotBegin);
      size_t end = text.find(kDovecotEnd, begin == std::string::npos ? 0 : begin);
      if (begin != std::string::npos && end != std::string::npos) {
        end += kDovecotEnd.size();
        if (end < text.size() && text[end] == '\n') ++end;
        text.erase(begin, end - begin);
        if (auto s = WriteFileAtomically(options_.dovecot_config, text, 0644); !s.ok()) {
          return Fail("failed", std::string(s.message()), 1);
        }
      }
      Tolerate({"doveadm", "-c", options_.dovecot_config, "reload"});
      state.erase("dovecot_until");
    }
    return absl::OkStatus();
  }

  absl::Status DebugOff() {
    ASSIGN_OR_RETURN(std::string path, StatePath("debug-state"));
    absl::MutexLock lock(debug_mu_);
    auto state = LoadDebugState(path);
    std::string service = DebugService();
    bool any = false;
    for (const char* s : {"postfix", "dovecot"}) {
      if (service != s && service != "both") continue;
      any = any || state.contains(std::string(s) + "_until");
      RETURN_IF_ERROR(RevertDebug(state, s));
    }
    RETURN_IF_ERROR(SaveDebugState(path, state));
    out().set_summary(any ? "debug logging off; the previous settings are back"
                          : "debug logging was not on");
    return absl::OkStatus();
  }

 public:
  void ExpireDebug() {
    if (options_.state_dir.empty()) return;
    std::string path = options_.state_dir + "/debug-state";
    absl::MutexLock change(change_mu_);  // main.cf is not edited by two at once
    absl::MutexLock lock(debug_mu_);
    auto state = LoadDebugState(path);
    if (state.empty()) return;
    int64_t now = NowSeconds();
    for (const char* s : {"postfix", "dovecot"}) {
      auto it = state.find(std::string(s) + "_until");
      // A state file damaged by hand reads as 0: the debug settings are reverted now.
      if (it == state.end() || std::strtoll(it->second.c_str(), nullptr, 10) > now) continue;
      absl::Status reverted = RevertDebug(state, s);
      if (reverted.ok()) {
        spdlog::info("debug logging for {} ended: its time was up", s);
      } else {
        spdlog::warn("debug logging for {}: could not turn it off yet: {}", s,
                     failure_ ? failure_->error : std::string(reverted.message()));
        failure_.reset();
        out().Clear();
      }
    }
    (void)SaveDebugState(path, state);
  }

 private:
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
  absl::Mutex* const debug_mu_;
  absl::Mutex* const change_mu_;
  std::chrono::steady_clock::time_point deadline_;
  CommandResult result_;
  std::optional<Failure> failure_;
};

ActionRunner::ActionRunner(ProcessRunner& runner, const Clock& clock, ActionRunnerOptions options)
    : runner_(runner), clock_(clock), options_(std::move(options)) {}

CommandResult ActionRunner::Run(const Command& command) {
  return Run_(runner_, clock_, options_, command, &debug_mu_, &change_mu_).Finish();
}

void ActionRunner::RevertExpiredDebug() {
  Command command;
  command.set_command_id("debug-expiry");
  command.set_action("debug.expire");
  Run_ run(runner_, clock_, options_, command, &debug_mu_, &change_mu_);
  run.ExpireDebug();
}

}  // namespace mailfleet::agent
