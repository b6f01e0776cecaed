#include "cli/diagnose_command.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <set>

#include "cli/format.h"
#include "cli/time_arg.h"
#include "common/parse/event_json.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace mailfleet::cli {
namespace {

using mailfleet::v1::CheckResult;
using mailfleet::v1::HostResult;

void AppendCheckJson(const CheckResult& c, std::string* out) {
  *out += "{\"id\":";
  parse::AppendJsonString(c.id(), out);
  *out += ",\"status\":";
  parse::AppendJsonString(c.status(), out);
  *out += ",\"summary\":";
  parse::AppendJsonString(c.summary(), out);
  *out += ",\"evidence\":";
  parse::AppendJsonString(c.evidence(), out);
  *out += ",\"remedy\":";
  parse::AppendJsonString(c.remedy(), out);
  if (!c.hosts().empty()) {
    *out += ",\"hosts\":[";
    for (int i = 0; i < c.hosts_size(); ++i) {
      if (i > 0) *out += ",";
      parse::AppendJsonString(c.hosts(i), out);
    }
    *out += "]";
  }
  *out += "}";
}

std::string Cell(const std::string& status) {
  if (status == "ok") return "ok";
  if (status == "warn") return "WARN";
  if (status == "fail") return "FAIL";
  if (status == "unknown") return "?";
  return status;
}

absl::Status SetDuration(const std::string& flag, const std::string& text, const char* param,
                         mailfleet::v1::CommandRequest* request) {
  if (text.empty()) return absl::OkStatus();
  auto d = ParseDurationArg(text);
  if (!d || d->count() < 1) {
    return absl::InvalidArgumentError(
        fmt::format("{} '{}' is not a duration; write 90s, 30m, 4h or 1d", flag, text));
  }
  (*request->mutable_params())[param] = std::to_string(d->count());
  return absl::OkStatus();
}

}  // namespace

std::string DiagnoseJson(const std::vector<HostResult>& hosts,
                         const std::vector<CheckResult>& fleet) {
  std::string out = "{\"hosts\":[";
  for (size_t i = 0; i < hosts.size(); ++i) {
    const auto& h = hosts[i];
    if (i > 0) out += ",";
    out += "{\"host\":";
    parse::AppendJsonString(h.host(), &out);
    out += fmt::format(",\"reachable\":{}", h.status() == "ok" ? "true" : "false");
    if (h.status() != "ok") {
      out += ",\"error\":";
      parse::AppendJsonString(fmt::format("{}: {}", h.status(), h.error()), &out);
    }
    out += ",\"checks\":[";
    for (int j = 0; j < h.result().checks_size(); ++j) {
      if (j > 0) out += ",";
      AppendCheckJson(h.result().checks(j), &out);
    }
    out += "]}";
  }
  out += "],\"fleet\":[";
  for (size_t i = 0; i < fleet.size(); ++i) {
    if (i > 0) out += ",";
    AppendCheckJson(fleet[i], &out);
  }
  return out + "]}";
}

int DiagnoseExitCode(const std::vector<HostResult>& hosts, const std::vector<CheckResult>& fleet) {
  bool warn = false, fail = false, unreachable = false;
  auto see = [&](const CheckResult& c) {
    warn = warn || c.status() == "warn";
    fail = fail || c.status() == "fail";
  };
  for (const auto& h : hosts) {
    if (h.status() != "ok") unreachable = true;
    for (const auto& c : h.result().checks()) see(c);
  }
  for (const auto& c : fleet) see(c);
  if (fail) return 2;
  if (unreachable) return 3;
  return warn ? 1 : 0;
}

int RunDiagnose(const CliConfig& config, const DiagnoseCliOptions& options) {
  mailfleet::v1::CommandRequest request;
  request.set_action("diagnose");
  request.set_local_user(LocalUser());
  request.set_timeout_seconds(options.timeout);
  auto usage = [](const absl::Status& s) {
    std::cerr << "mailfleet: " << s.message() << "\n";
    return 3;
  };
  if (auto s = BuildTargets(options.targets, true, &request); !s.ok()) return usage(s);
  auto& params = *request.mutable_params();
  if (!options.checks.empty()) params["checks"] = fmt::format("{}", fmt::join(options.checks, ","));
  for (auto [flag, text, param] : {std::tuple{"--queue-warn", options.queue_warn, "queue_warn"},
                                   std::tuple{"--queue-fail", options.queue_fail, "queue_fail"}}) {
    if (!text.empty()) params[param] = text;
  }
  for (auto [flag, text, param] : {std::tuple{"--age-warn", options.age_warn, "age_warn"},
                                   std::tuple{"--age-fail", options.age_fail, "age_fail"},
                                   std::tuple{"--log-window", options.log_window, "log_window"}}) {
    if (auto s = SetDuration(flag, text, param, &request); !s.ok()) return usage(s);
  }
  auto started = std::chrono::steady_clock::now();
  std::vector<CheckResult> fleet;
  int64_t command_id = 0;
  auto results = StreamCommand(config, request, [&](const mailfleet::v1::CommandEvent& e) {
    if (e.has_accepted()) {
      command_id = e.accepted().command_id();
      if (!options.json) {
        std::cerr << fmt::format("diagnose on {} host(s)\n", e.accepted().hosts_size());
      }
    } else if (e.has_result() && !options.json) {
      const auto& r = e.result();
      std::map<std::string, int> n;
      for (const auto& c : r.result().checks()) ++n[c.status()];
      std::cerr << (r.status() == "ok"
                        ? fmt::format("  {}: {} checks, {} fail, {} warn ({} ms)\n", r.host(),
                                      r.result().checks_size(), n["fail"], n["warn"],
                                      r.duration_ms())
                        : fmt::format("  {}: could not run: {}\n", r.host(), r.error()));
    } else if (e.has_done()) {
      fleet.assign(e.done().fleet().begin(), e.done().fleet().end());
    }
  });
  if (!results.ok()) return usage(results.status());
  std::sort(results->begin(), results->end(),
            [](const HostResult& a, const HostResult& b) { return a.host() < b.host(); });
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count();
  if (options.json) {
    std::cout << DiagnoseJson(*results, fleet) << "\n";
  } else {
    // The matrix: a row per check, a column per host.
    std::vector<std::string> ids;
    for (const auto& h : *results) {
      for (const auto& c : h.result().checks()) {
        if (std::find(ids.begin(), ids.end(), c.id()) == ids.end()) ids.push_back(c.id());
      }
    }
    std::vector<std::vector<std::string>> rows = {{"CHECK"}};
    for (const auto& h : *results) rows[0].push_back(h.host());
    for (const auto& id : ids) {
      std::vector<std::string> row = {id};
      for (const auto& h : *results) {
        std::string cell = h.status() == "ok" ? "-" : "unreachable";
        for (const auto& c : h.result().checks()) {
          if (c.id() == id) cell = Cell(c.status());
        }
        row.push_back(cell);
      }
      rows.push_back(std::move(row));
    }
    std::cout << FormatTable(rows);
    if (!fleet.empty()) {
      std::vector<std::vector<std::string>> fleet_rows = {{"FLEET CHECK", "STATUS", "SUMMARY"}};
      for (const auto& c : fleet) fleet_rows.push_back({c.id(), Cell(c.status()), c.summary()});
      std::cout << "\n" << FormatTable(fleet_rows);
    }
    std::vector<std::string> findings;
    for (const auto& h : *results) {
      if (h.status() != "ok") {
        findings.push_back(
            fmt::format("{}  unreachable: {} ({})\n    remedy: check that "
                        "mailfleet-agent runs there (`mailfleet hosts`)",
                        h.host(), h.status(), h.error()));
      }
      for (const auto& c : h.result().checks()) {
        if (c.status() != "fail" && c.status() != "warn") continue;
        findings.push_back(fmt::format("{}  {} {}: {}\n    evidence: {}\n    remedy: {}", h.host(),
                                       c.id(), Cell(c.status()), c.summary(), c.evidence(),
                                       c.remedy()));
      }
    }
    for (const auto& c : fleet) {
      if (c.status() != "fail" && c.status() != "warn") continue;
      findings.push_back(fmt::format("fleet  {} {}: {}\n    evidence: {}\n    remedy: {}", c.id(),
                                     Cell(c.status()), c.summary(), c.evidence(), c.remedy()));
    }
    if (findings.empty()) {
      std::cout << fmt::format("\nno findings: every check ok on {} host(s) ({} ms)\n",
                               results->size(), elapsed);
    } else {
      std::cout << fmt::format("\n{} finding(s) ({} ms):\n", findings.size(), elapsed);
      for (const auto& f : findings) std::cout << f << "\n";
    }
  }
  if (options.changes && command_id > 0) {
    // The previous run: the newest diagnose before this one.
    auto client = Client::Connect(config);
    mailfleet::v1::AuditRequest audit;
    audit.set_action("diagnose");
    audit.set_limit(2);
    mailfleet::v1::AuditResponse response;
    absl::Status s =
        client.ok() ? client->Call(&mailfleet::v1::ControlService::Stub::Audit, audit, &response)
                    : client.status();
    const mailfleet::v1::AuditEntry* previous = nullptr;
    for (const auto& e : response.entries()) {
      if (e.command_id() < command_id && previous == nullptr) previous = &e;
    }
    if (!s.ok()) {
      std::cerr << "mailfleet: --changes: " << s.message() << "\n";
    } else if (previous == nullptr) {
      std::cout << "\nchanges: no earlier diagnose run to compare with\n";
    } else {
      std::map<std::string, std::string> before, after;
      for (const auto& h : previous->results()) {
        for (const auto& c : h.result().checks()) before[h.host() + " " + c.id()] = c.status();
      }
      for (const auto& c : previous->fleet()) before["fleet " + c.id()] = c.status();
      for (const auto& h : *results) {
        for (const auto& c : h.result().checks()) after[h.host() + " " + c.id()] = c.status();
      }
      for (const auto& c : fleet) after["fleet " + c.id()] = c.status();
      std::vector<std::string> changed;
      std::set<std::string> keys;
      for (const auto& [k, v] : before) keys.insert(k);
      for (const auto& [k, v] : after) keys.insert(k);
      for (const auto& k : keys) {
        std::string b = before.contains(k) ? before[k] : "-";
        std::string a = after.contains(k) ? after[k] : "-";
        if (a != b) changed.push_back(fmt::format("  {}: {} -> {}", k, b, a));
      }
      if (options.json) {
        std::string out =
            fmt::format("{{\"changes_since\":{},\"changes\":[", previous->command_id());
        for (size_t i = 0; i < changed.size(); ++i) {
          if (i > 0) out += ",";
          parse::AppendJsonString(changed[i].substr(2), &out);
        }
        std::cout << out << "]}\n";
      } else {
        std::cout << fmt::format("\nchanges since diagnose {} ({}):\n", previous->command_id(),
                                 changed.empty() ? "none" : std::to_string(changed.size()));
        for (const auto& c : changed) std::cout << c << "\n";
      }
    }
  }
  return DiagnoseExitCode(*results, fleet);
}

}  // namespace mailfleet::cli
