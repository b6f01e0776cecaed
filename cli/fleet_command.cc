#include "cli/fleet_command.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>

#include "cli/format.h"
#include "cli/time_arg.h"
#include "common/absl_fmt.h"
#include "common/actions/actions.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "google/protobuf/util/time_util.h"

namespace mailfleet::cli {
namespace {

using mailfleet::v1::CommandEvent;
using mailfleet::v1::CommandRequest;
using mailfleet::v1::HostResult;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int Fail(const absl::Status& status) {
  std::cerr << "mailfleet: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitError;
}

// "12k" = 12,000 bytes, "3M", "1G", or plain bytes.
absl::StatusOr<uint64_t> ParseSize(const std::string& text) {
  if (text.empty()) return absl::InvalidArgumentError("--min-size is empty");
  uint64_t multiplier = 1;
  std::string digits = text;
  switch (text.back()) {
    case 'k':
    case 'K':
      multiplier = 1000;
      break;
    case 'm':
    case 'M':
      multiplier = 1000 * 1000;
      break;
    case 'g':
    case 'G':
      multiplier = 1000 * 1000 * 1000;
      break;
    default:
      break;
  }
  if (multiplier != 1) digits.pop_back();
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(digits.c_str(), &end, 10);
  if (digits.empty() || *end != '\0' || errno != 0 || digits[0] == '-') {
    return absl::InvalidArgumentError(fmt::format(
        "--min-size '{}' is not a size; write bytes (4096) or with k, M, G (12k, 3M)", text));
  }
  return static_cast<uint64_t>(n) * multiplier;
}

absl::StatusOr<uint64_t> ParseAge(const std::string& flag, const std::string& text) {
  auto d = ParseDurationArg(text);
  if (!d) {
    return absl::InvalidArgumentError(
        fmt::format("{} '{}' is not a duration; write 90s, 15m, 2h, 3d or 1w", flag, text));
  }
  return static_cast<uint64_t>(d->count());
}

std::string StatusWord(const std::string& status) { return status; }

// Results are printed as they come: one line per host, then what it did.
void PrintResult(const HostResult& r, bool dry_run) {
  std::string text = r.status() == "ok" ? r.result().summary() : r.error();
  std::cout << fmt::format("{:<12} {:<9} {}{}\n", r.host(), StatusWord(r.status()), text,
                           r.duration_ms() > 0 ? fmt::format("  ({} ms)", r.duration_ms()) : "");
  if (!dry_run || r.status() != "ok") return;
  int shown = 0;
  for (const auto& m : r.result().messages()) {
    if (++shown > 20) {
      std::cout << fmt::format("    ... and {} more\n", r.result().matched() - 20);
      break;
    }
    std::vector<std::string> rcpts;
    for (const auto& x : m.recipients()) rcpts.push_back(x.address());
    std::cout << fmt::format("    {:<12} {:<9} {} -> {}\n", m.queue_id(), m.queue_name(),
                             m.sender().empty() ? "<>" : m.sender(), fmt::join(rcpts, ", "));
  }
  for (const auto& c : r.result().commands()) std::cout << "    would run: " << c << "\n";
}

int ExitCode(const std::vector<HostResult>& results) {
  for (const auto& r : results) {
    if (r.status() != "ok" && r.status() != "queued") return kExitError;
  }
  return kExitOk;
}

// Runs the request and prints each host's result as it finishes (or JSON lines).
int RunAndPrint(const CliConfig& config, const CommandRequest& request, bool json) {
  auto results = StreamCommand(config, request, [&](const CommandEvent& e) {
    if (json) {
      std::cout << ToJson(e) << "\n" << std::flush;
      return;
    }
    if (e.has_accepted()) {
      std::cout << fmt::format("command {}: {}{} ({}) on {}\n", e.accepted().command_id(),
                               request.action(), request.dry_run() ? " --dry-run" : "",
                               e.accepted().risk(), fmt::join(e.accepted().hosts(), ", "));
    } else if (e.has_result()) {
      PrintResult(e.result(), request.dry_run());
      std::cout << std::flush;
    } else if (e.has_done()) {
      const auto& d = e.done();
      std::cout << fmt::format("done: {} ok, {} failed, {} not run, {} queued\n", d.ok(),
                               d.failed(), d.not_run(), d.queued());
    }
  });
  if (!results.ok()) return Fail(results.status());
  return ExitCode(*results);
}

absl::Status ApplyRollout(const RolloutOptions& rollout, CommandRequest* request) {
  request->set_dry_run(rollout.dry_run);
  request->set_canary(rollout.canary);
  request->set_batch(rollout.batch);
  request->set_queue_offline(rollout.queue_offline);
  request->set_timeout_seconds(rollout.timeout);
  if (!rollout.offline_ttl.empty()) {
    auto ttl = ParseDurationArg(rollout.offline_ttl);
    if (!ttl || ttl->count() == 0) {
      return absl::InvalidArgumentError(fmt::format(
          "--offline-ttl '{}' is not a duration; write 30m, 2h or 1d", rollout.offline_ttl));
    }
    request->set_offline_ttl_seconds(static_cast<uint32_t>(ttl->count()));
  }
  if (!rollout.offline_ttl.empty() && !rollout.queue_offline) {
    return absl::InvalidArgumentError("--offline-ttl goes with --queue-offline");
  }
  request->set_local_user(LocalUser());
  return absl::OkStatus();
}

}  // namespace

bool Confirm(const std::string& question) {
  std::cerr << question << " Type 'yes' to go on: " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "yes";
}

std::string HostsPhrase(const CommandRequest& request) {
  if (request.all_hosts()) return "every host";
  return fmt::format("{}", fmt::join(request.hosts(), ", "));
}

int RunAction(const CliConfig& config, CommandRequest request, const RolloutOptions& rollout) {
  if (auto s = ApplyRollout(rollout, &request); !s.ok()) return Fail(s);
  auto risk = actions::ValidateCommand(request.action(), request.params(), request.filter());
  if (!risk.ok()) return Fail(risk.status());
  if (*risk == actions::Risk::kDestructive && !rollout.yes && !rollout.dry_run &&
      !Confirm(fmt::format("{} on {}?", request.action(), HostsPhrase(request)))) {
    std::cerr << "mailfleet: not confirmed; nothing changed\n";
    return kExitError;
  }
  return RunAndPrint(config, request, rollout.json);
}

std::string LocalUser() {
  if (const char* sudo = std::getenv("SUDO_USER"); sudo != nullptr && *sudo) return sudo;
  if (struct passwd* pw = getpwuid(getuid()); pw != nullptr) return pw->pw_name;
  return fmt::format("uid {}", getuid());
}

absl::Status BuildTargets(const TargetOptions& t, bool default_all, CommandRequest* request) {
  if (t.all && !t.hosts.empty())
    return absl::InvalidArgumentError("give --host or --all, not both");
  if (!t.all && t.hosts.empty() && !default_all) {
    return absl::InvalidArgumentError(
        "name the hosts (--host H, repeatable) or take every one (--all)");
  }
  request->set_all_hosts(t.all || t.hosts.empty());
  for (const auto& h : t.hosts) request->add_hosts(h);
  auto* f = request->mutable_filter();
  for (const auto& q : t.queues) f->add_queues(q);
  f->set_from(t.from);
  f->set_to(t.to);
  f->set_reason(t.reason);
  for (const auto& id : t.ids) f->add_queue_ids(id);
  if (!t.older_than.empty()) {
    auto s = ParseAge("--older-than", t.older_than);
    if (!s.ok()) return s.status();
    f->set_older_than_seconds(*s);
  }
  if (!t.younger_than.empty()) {
    auto s = ParseAge("--younger-than", t.younger_than);
    if (!s.ok()) return s.status();
    f->set_younger_than_seconds(*s);
  }
  if (!t.min_size.empty()) {
    auto s = ParseSize(t.min_size);
    if (!s.ok()) return s.status();
    f->set_min_size(*s);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<HostResult>> StreamCommand(
    const CliConfig& config, const CommandRequest& request,
    const std::function<void(const CommandEvent&)>& on_event) {
  // The same checks the collector and agents make, before anything is recorded.
  auto risk = actions::ValidateCommand(request.action(), request.params(), request.filter());
  if (!risk.ok()) return risk.status();
  auto client = Client::Connect(config);
  if (!client.ok()) return client.status();
  grpc::ClientContext context;
  // Each wave may take the per-host timeout; the collector bounds every wait.
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::hours(24));
  auto reader = client->stub().RunCommand(&context, request);
  std::vector<HostResult> results;
  CommandEvent event;
  while (reader->Read(&event)) {
    if (event.has_result()) results.push_back(event.result());
    on_event(event);
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return ExplainCallError(config.collector, status);
  return results;
}

int RunQueueAction(const CliConfig& config, const std::string& action, const TargetOptions& targets,
                   const RolloutOptions& rollout) {
  CommandRequest request;
  request.set_action(action);
  if (auto s = BuildTargets(targets, false, &request); !s.ok()) return Fail(s);
  if (auto s = ApplyRollout(rollout, &request); !s.ok()) return Fail(s);
  if (rollout.everything) (*request.mutable_params())["everything"] = "yes";
  auto risk = actions::ValidateCommand(request.action(), request.params(), request.filter());
  if (!risk.ok()) return Fail(risk.status());

  bool confirm =
      !rollout.dry_run && !rollout.yes && (action == "queue.delete" || action == "queue.requeue");
  if (confirm) {
    // The preview: the same command as a dry run, to show the count.
    CommandRequest preview = request;
    preview.set_dry_run(true);
    preview.set_canary(false);
    preview.set_batch(0);
    preview.set_queue_offline(false);
    auto results = StreamCommand(config, preview, [](const CommandEvent&) {});
    if (!results.ok()) return Fail(results.status());
    uint64_t total = 0;
    std::vector<std::string> parts;
    for (const auto& r : *results) {
      if (r.status() != "ok") {
        parts.push_back(fmt::format("{}: {}", r.host(), r.status()));
        continue;
      }
      total += r.result().matched();
      parts.push_back(fmt::format("{}: {}", r.host(), r.result().matched()));
    }
    if (total == 0) {
      std::cout << fmt::format("no message matches ({}); nothing to {}\n", fmt::join(parts, ", "),
                               action.substr(6));
      return ExitCode(*results);
    }
    if (!Confirm(fmt::format("{} {} message{} ({})?", action.substr(6), total,
                             total == 1 ? "" : "s", fmt::join(parts, ", ")))) {
      std::cerr << "mailfleet: not confirmed; nothing changed\n";
      return kExitError;
    }
  }
  return RunAndPrint(config, request, rollout.json);
}

int RunService(const CliConfig& config, const std::string& service, const std::string& op,
               const TargetOptions& targets, const RolloutOptions& rollout) {
  CommandRequest request;
  request.set_action("service." + service);
  (*request.mutable_params())["op"] = op;
  if (auto s = BuildTargets(targets, false, &request); !s.ok()) return Fail(s);
  if (rollout.dry_run) {
    return Fail(absl::InvalidArgumentError(
        "service actions have no dry run; use --canary to try one host first"));
  }
  return RunAction(config, std::move(request), rollout);
}

int RunAudit(const CliConfig& config, const AuditOptions& options) {
  mailfleet::v1::AuditRequest request;
  auto now = std::chrono::system_clock::now();
  if (auto s = SetTimeRange(options.since, options.until, now, &request); !s.ok()) return Fail(s);
  for (const auto& h : options.hosts) request.add_hosts(h);
  request.set_action(options.action);
  request.set_limit(options.limit);
  auto client = Client::Connect(config);
  if (!client.ok()) return Fail(client.status());
  mailfleet::v1::AuditResponse response;
  auto s = client->Call(&mailfleet::v1::ControlService::Stub::Audit, request, &response);
  if (!s.ok()) return Fail(s);
  if (options.json) {
    for (const auto& e : response.entries()) std::cout << ToJson(e) << "\n";
    return kExitOk;
  }
  if (response.entries().empty()) {
    std::cout << "no commands recorded in that range\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "WHEN", "WHO", "ACTION", "RISK", "FILTER", "RESULTS"}};
  for (const auto& e : response.entries()) {
    std::string when = google::protobuf::util::TimeUtil::ToString(e.created_at()).substr(0, 19);
    const auto& f = e.request().filter();
    std::vector<std::string> filter;
    if (e.request().dry_run()) filter.push_back("dry-run");
    for (const auto& [k, v] : e.request().params()) filter.push_back(fmt::format("{}={}", k, v));
    for (const auto& q : f.queues()) filter.push_back("queue=" + q);
    if (!f.from().empty()) filter.push_back("from=" + f.from());
    if (!f.to().empty()) filter.push_back("to=" + f.to());
    if (f.older_than_seconds() > 0)
      filter.push_back(fmt::format("older>{}s", f.older_than_seconds()));
    if (f.younger_than_seconds() > 0)
      filter.push_back(fmt::format("younger<{}s", f.younger_than_seconds()));
    if (!f.reason().empty()) filter.push_back("reason=" + f.reason());
    if (f.min_size() > 0) filter.push_back(fmt::format("size>={}", f.min_size()));
    if (!f.queue_ids().empty())
      filter.push_back(fmt::format("ids={}", fmt::join(f.queue_ids(), ",")));
    std::vector<std::string> results;
    for (const auto& r : e.results()) {
      std::string what = r.host() + ":" + r.status();
      if (r.status() == "ok" && r.result().changed() > 0)
        what += fmt::format("({})", r.result().changed());
      results.push_back(what);
    }
    rows.push_back({std::to_string(e.command_id()), when, e.requested_by(), e.action(), e.risk(),
                    filter.empty() ? "-" : fmt::format("{}", fmt::join(filter, " ")),
                    fmt::format("{}", fmt::join(results, " "))});
  }
  std::cout << FormatTable(rows);
  return kExitOk;
}

}  // namespace mailfleet::cli
