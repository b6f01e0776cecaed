#include "cli/config_command.h"

#include <iostream>
#include <map>
#include <set>

#include "cli/format.h"
#include "cli/time_arg.h"
#include "common/text.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace mailfleet::cli {
namespace {

using mailfleet::v1::CommandRequest;

int Fail(const absl::Status& status) {
  std::cerr << "mailfleet: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

std::vector<std::string> Lines(const std::string& text) {
  auto views = SplitLines(text);
  return {views.begin(), views.end()};
}

// The result of a snapshot command for one host, read back from the audit log.
absl::StatusOr<mailfleet::v1::ActionResult> SnapshotOf(const CliConfig& config, int64_t id,
                                                       const std::string& host) {
  auto client = Client::Connect(config);
  if (!client.ok()) return client.status();
  mailfleet::v1::AuditRequest request;
  mailfleet::v1::AuditResponse response;
  if (id > 0) {
    request.set_command_id(id);
  } else {
    request.set_action("config.snapshot");
    request.add_hosts(host);
    request.set_limit(50);
  }
  if (auto s = client->Call(&mailfleet::v1::ControlService::Stub::Audit, request, &response);
      !s.ok()) {
    return s;
  }
  for (const auto& e : response.entries()) {
    // The snapshots `config diff` takes to compare are not baselines.
    auto purpose = e.request().params().find("purpose");
    if (id == 0 && purpose != e.request().params().end() && purpose->second == "diff") continue;
    if (e.action() != "config.snapshot") {
      return absl::InvalidArgumentError(
          fmt::format("command {} is a {}, not a config.snapshot", e.command_id(), e.action()));
    }
    for (const auto& r : e.results()) {
      if (r.host() == host && r.status() == "ok") return r.result();
    }
  }
  if (id > 0) {
    return absl::NotFoundError(fmt::format(
        "command {} holds no snapshot of {}; `mailfleet audit --action config.snapshot --host {}` "
        "lists them",
        id, host, host));
  }
  return absl::NotFoundError(fmt::format(
      "no snapshot of {} yet; take one with `mailfleet config snapshot --host {}`", host, host));
}

absl::StatusOr<std::string> OneHost(const TargetOptions& targets) {
  if (targets.all || targets.hosts.size() != 1) {
    return absl::InvalidArgumentError("this takes exactly one host: --host H");
  }
  return targets.hosts[0];
}

}  // namespace

std::vector<std::string> DiffLines(const std::string& before, const std::string& after,
                                   bool by_parameter) {
  std::vector<std::string> out;
  auto a = Lines(before);
  auto b = Lines(after);
  if (by_parameter) {
    auto name = [](const std::string& line) { return line.substr(0, line.find(" = ")); };
    std::map<std::string, std::string> old_params, new_params;
    for (const auto& l : a) old_params[name(l)] = l;
    for (const auto& l : b) new_params[name(l)] = l;
    std::set<std::string> names;
    for (const auto& [k, v] : old_params) names.insert(k);
    for (const auto& [k, v] : new_params) names.insert(k);
    for (const auto& n : names) {
      auto o = old_params.find(n);
      auto w = new_params.find(n);
      if (o != old_params.end() && w != new_params.end() && o->second == w->second) continue;
      if (o != old_params.end()) out.push_back("-" + o->second);
      if (w != new_params.end()) out.push_back("+" + w->second);
    }
    return out;
  }
  // Longest common subsequence: config files are short.
  std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;) {
    for (size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      ++i;
      ++j;
    } else if (j < b.size() && (i == a.size() || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out.push_back("+" + b[j++]);
    } else {
      out.push_back("-" + a[i++]);
    }
  }
  return out;
}

int RunConfigSnapshot(const CliConfig& config, const ConfigOptions& options) {
  CommandRequest request;
  request.set_action("config.snapshot");
  if (auto s = BuildTargets(options.targets, false, &request); !s.ok()) return Fail(s);
  return RunAction(config, std::move(request), options.rollout);
}

int RunConfigDiff(const CliConfig& config, const ConfigOptions& options) {
  auto host = OneHost(options.targets);
  if (!host.ok()) return Fail(host.status());
  auto before = SnapshotOf(config, options.snapshot, *host);
  if (!before.ok()) return Fail(before.status());
  CommandRequest request;
  request.set_action("config.snapshot");
  (*request.mutable_params())["purpose"] = "diff";
  request.add_hosts(*host);
  request.set_local_user(LocalUser());
  auto results = StreamCommand(config, request, [](const mailfleet::v1::CommandEvent&) {});
  if (!results.ok()) return Fail(results.status());
  if (results->empty() || (*results)[0].status() != "ok") {
    return Fail(absl::UnavailableError(fmt::format(
        "{}: no snapshot now: {}", *host, results->empty() ? "no result" : (*results)[0].error())));
  }
  const auto& now = (*results)[0].result().values();
  const auto& then = before->values();
  bool same = true;
  for (auto [key, label, by_param] :
       {std::tuple{"postconf_n", "postconf -n", true}, std::tuple{"master_cf", "master.cf", false},
        std::tuple{"doveconf_n", "doveconf -n", false}}) {
    auto old_it = then.find(key);
    auto new_it = now.find(key);
    auto diff = DiffLines(old_it == then.end() ? "" : old_it->second,
                          new_it == now.end() ? "" : new_it->second, by_param);
    if (diff.empty()) continue;
    same = false;
    if (options.rollout.json) continue;
    std::cout << fmt::format("--- {} (snapshot)\n+++ {} (now)\n", label, label);
    for (const auto& l : diff) std::cout << l << "\n";
  }
  if (options.rollout.json) {
    std::cout << fmt::format("{{\"host\":\"{}\",\"changed\":{}}}\n", *host,
                             same ? "false" : "true");
  } else if (same) {
    std::cout << fmt::format("{}: no change since the snapshot\n", *host);
  }
  return same ? 0 : 1;
}

int RunConfigRestore(const CliConfig& config, const ConfigOptions& options) {
  auto host = OneHost(options.targets);
  if (!host.ok()) return Fail(host.status());
  if (options.snapshot <= 0) {
    return Fail(absl::InvalidArgumentError(
        "name the snapshot to restore: --snapshot ID (`mailfleet audit --action config.snapshot` "
        "lists them)"));
  }
  auto snapshot = SnapshotOf(config, options.snapshot, *host);
  if (!snapshot.ok()) return Fail(snapshot.status());
  auto it = snapshot->values().find("postconf_n");
  if (it == snapshot->values().end() || it->second.empty()) {
    return Fail(absl::NotFoundError("that snapshot holds no postconf -n text"));
  }
  CommandRequest request;
  request.set_action("config.restore");
  request.add_hosts(*host);
  (*request.mutable_params())["postconf_n"] = it->second;
  return RunAction(config, std::move(request), options.rollout);
}

int RunEmergency(const CliConfig& config, const std::string& op, const ConfigOptions& options) {
  CommandRequest request;
  request.set_action("emergency." + op);
  if (auto s = BuildTargets(options.targets, false, &request); !s.ok()) return Fail(s);
  return RunAction(config, std::move(request), options.rollout);
}

int RunDebug(const CliConfig& config, const std::string& op, const DebugOptions& debug,
             const ConfigOptions& options) {
  CommandRequest request;
  request.set_action("debug." + op);
  if (auto s = BuildTargets(options.targets, false, &request); !s.ok()) return Fail(s);
  auto& params = *request.mutable_params();
  params["service"] = debug.service;
  if (op == "on") {
    auto ttl = ParseDurationArg(debug.ttl);
    if (!ttl || ttl->count() < 1) {
      return Fail(absl::InvalidArgumentError(
          fmt::format("--ttl '{}' is not a duration; write 30s, 15m or 2h", debug.ttl)));
    }
    params["ttl"] = std::to_string(ttl->count());
    if (!debug.peers.empty()) params["peers"] = fmt::format("{}", fmt::join(debug.peers, ","));
    if (debug.level > 0) params["level"] = std::to_string(debug.level);
  } else if (!debug.peers.empty() || debug.level > 0) {
    return Fail(absl::InvalidArgumentError("--peer and --level go with `debug on`"));
  }
  return RunAction(config, std::move(request), options.rollout);
}

int RunAuthCacheFlush(const CliConfig& config, const ConfigOptions& options) {
  CommandRequest request;
  request.set_action("auth.cache_flush");
  if (auto s = BuildTargets(options.targets, false, &request); !s.ok()) return Fail(s);
  return RunAction(config, std::move(request), options.rollout);
}

}  // namespace mailfleet::cli
