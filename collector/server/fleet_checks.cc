#include "collector/server/fleet_checks.h"

#include <map>
#include <set>
#include <string>

#include "common/text.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace mailfleet::collector {
namespace {

using mailfleet::v1::CheckResult;
using mailfleet::v1::HostResult;

bool WordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// The value with this host's own names replaced by a token, so "myhostname = h1.example" and
// "queue_directory = /srv/h1/spool" agree across hosts.
std::string Normalize(std::string value, const std::vector<std::string>& own_names) {
  for (const auto& name : own_names) {
    if (name.empty()) continue;
    for (size_t at = value.find(name); at != std::string::npos; at = value.find(name, at)) {
      bool starts = at == 0 || !WordChar(value[at - 1]);
      bool ends = at + name.size() == value.size() || !WordChar(value[at + name.size()]);
      if (starts && ends) {
        value.replace(at, name.size(), "<host>");
        at += 6;
      } else {
        at += name.size();
      }
    }
  }
  return value;
}

// Top-level "name = value" lines (doveconf -n's sections are skipped).
std::map<std::string, std::string> Parameters(const std::string& text) {
  std::map<std::string, std::string> out;
  int depth = 0;
  for (std::string_view view : SplitLines(text)) {
    std::string line(view);
    if (line.find('{') != std::string::npos) ++depth;
    if (line.find('}') != std::string::npos) --depth;
    if (depth != 0 || line.empty() || line[0] == '#') continue;
    size_t eq = line.find(" =");
    if (eq == std::string::npos) continue;
    out[line.substr(0, eq)] = eq + 3 <= line.size() ? line.substr(eq + 3) : "";
  }
  return out;
}

CheckResult Reachability(const std::vector<HostResult>& results) {
  CheckResult c;
  c.set_id("fleet.reachability");
  std::vector<std::string> failures;
  std::set<std::string> unreachable;
  int probes = 0;
  for (const auto& r : results) {
    for (const auto& [key, value] : r.result().values()) {
      if (!key.starts_with("reach.")) continue;
      ++probes;
      if (value.starts_with("ok")) continue;
      std::string target = key.substr(6);
      failures.push_back(fmt::format("{} -> {}:25 {}", r.host(), target, value));
      unreachable.insert(target);
    }
  }
  if (probes == 0) return c;  // not probed: no check
  if (failures.empty()) {
    c.set_status("ok");
    c.set_summary(fmt::format("every host reaches every other's port 25 ({} probes)", probes));
    c.set_evidence("TCP connect to port 25 from each agent to each peer");
    return c;
  }
  c.set_status("fail");
  c.set_summary(
      fmt::format("port 25 of {} cannot be reached from some hosts", fmt::join(unreachable, ", ")));
  c.set_evidence(fmt::format("{} of {} probes failed: {}", failures.size(), probes,
                             fmt::join(failures, "; ")));
  c.set_remedy(
      "Connection refused / firewall blocking SMTP (guide's matrix): on the unreachable host "
      "check that Postfix listens (ports.listen) and the firewall (firewall.mail_ports); then "
      "`nc -vz HOST 25` from a peer");
  for (const auto& h : unreachable) c.add_hosts(h);
  return c;
}

CheckResult Drift(const std::vector<HostResult>& results) {
  CheckResult c;
  c.set_id("fleet.config_drift");
  // host -> "postconf:name" -> normalized value
  std::map<std::string, std::map<std::string, std::string>> per_host;
  for (const auto& r : results) {
    const auto& v = r.result().values();
    auto pc = v.find("postconf_n");
    if (pc == v.end()) continue;
    auto params = Parameters(pc->second);
    std::vector<std::string> own = {r.host()};
    if (params.contains("myhostname")) own.insert(own.begin(), params["myhostname"]);
    auto& mine = per_host[r.host()];
    for (const auto& [k, val] : params) mine["postconf " + k] = Normalize(val, own);
    if (auto dc = v.find("doveconf_n"); dc != v.end()) {
      for (const auto& [k, val] : Parameters(dc->second))
        mine["doveconf " + k] = Normalize(val, own);
    }
  }
  if (per_host.size() < 3) {
    if (per_host.empty()) return c;
    c.set_status("ok");
    c.set_summary("drift needs at least 3 hosts to find a majority");
    return c;
  }
  std::set<std::string> names;
  for (const auto& [h, params] : per_host) {
    for (const auto& [k, v] : params) names.insert(k);
  }
  std::vector<std::string> findings;
  std::set<std::string> drifting;
  const std::string kUnset = "(unset)";
  for (const auto& name : names) {
    std::map<std::string, int> votes;
    for (const auto& [h, params] : per_host) {
      auto it = params.find(name);
      ++votes[it == params.end() ? kUnset : it->second];
    }
    if (votes.size() == 1) continue;
    auto majority = std::max_element(votes.begin(), votes.end(), [](const auto& a, const auto& b) {
      return a.second < b.second;
    });
    if (majority->second * 2 <= static_cast<int>(per_host.size())) continue;  // no majority
    for (const auto& [h, params] : per_host) {
      auto it = params.find(name);
      const std::string& mine = it == params.end() ? kUnset : it->second;
      if (mine == majority->first) continue;
      drifting.insert(h);
      findings.push_back(fmt::format("{}: {} = {} (fleet: {})", h, name, mine, majority->first));
    }
  }
  if (findings.empty()) {
    c.set_status("ok");
    c.set_summary(fmt::format("{} hosts agree on every parameter", per_host.size()));
    c.set_evidence("postconf -n and doveconf -n, with each host's own names set aside");
    return c;
  }
  c.set_status("warn");
  c.set_summary(fmt::format("{} differ from the fleet's majority", fmt::join(drifting, ", ")));
  c.set_evidence(fmt::format("{}", fmt::join(findings, "; ")));
  c.set_remedy(
      "Check whether the difference is intended; `mailfleet config diff --host HOST` shows what "
      "changed since its last snapshot and `mailfleet config restore` puts a snapshot back");
  for (const auto& h : drifting) c.add_hosts(h);
  return c;
}

}  // namespace

std::vector<CheckResult> FleetChecks(const std::vector<HostResult>& results) {
  std::vector<CheckResult> out;
  for (auto c : {Reachability(results), Drift(results)}) {
    if (!c.status().empty()) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace mailfleet::collector
