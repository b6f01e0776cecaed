// ControlService's commands: RunCommand (record, dispatch through PostgreSQL, stream each
// host's result) and Audit.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_split.h"
#include "collector/server/control_service.h"
#include "collector/server/fleet_checks.h"
#include "common/absl_fmt.h"
#include "common/actions/actions.h"
#include "common/grpc_status.h"
#include "common/tls.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "spdlog/spdlog.h"

namespace mailfleet::collector {
namespace {

using mailfleet::v1::CommandEvent;
using mailfleet::v1::HostResult;

constexpr uint32_t kDefaultTimeout = 60;
constexpr uint32_t kMaxTimeout = 600;
constexpr uint32_t kDefaultOfflineTtl = 3600;
// Past a wave's timeout the collector stops waiting a little later than the agent gives up.
constexpr auto kGrace = std::chrono::seconds(5);

bool Final(const std::string& state) {
  return state != "waiting" && state != "pending" && state != "queued" && state != "sent";
}

bool Failed(const std::string& state) {
  return state == "failed" || state == "refused" || state == "timeout";
}

// "alice (CN=ops-laptop)": the operator as the CLI names them, and the certificate that
// vouches for the call.
std::string Requester(grpc::ServerContext* context, const std::string& local_user) {
  std::string who = "unauthenticated (plaintext)";
  auto auth = context->auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    who = fmt::format("CN={}", IdentifyPeer(*auth).common_name);
  }
  std::string user;
  for (char c : local_user.substr(0, 64)) {
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) user += c;
  }
  return user.empty() ? who : fmt::format("{} ({})", user, who);
}

bool IsAddress(const std::string& text) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

// "ipv4:198.18.0.11:43210" or "ipv6:[2001:db8::5]:43210" (gRPC's peer form) -> the address;
// "" for anything else (a unix socket, loopback-only tests).
std::string PeerAddress(const std::string& peer) {
  std::string address;
  if (peer.starts_with("ipv4:")) {
    address = peer.substr(5, peer.rfind(':') - 5);
  } else if (peer.starts_with("ipv6:[")) {
    address = peer.substr(6, peer.find(']') - 6);
  } else if (peer.starts_with("ipv6:%5B")) {  // the brackets URL-encoded
    address = peer.substr(8, peer.find("%5D") - 8);
  }
  if (!address.empty()) {
    if (address.starts_with("::ffff:")) address = address.substr(7);
  }
  bool loopback = address.starts_with("127.") || address == "::1";
  return IsAddress(address) && !loopback ? address : "";
}

}  // namespace

grpc::Status ControlService::RunCommand(grpc::ServerContext* context,
                                        const mailfleet::v1::CommandRequest* request,
                                        grpc::ServerWriter<CommandEvent>* writer) {
  if (auto s = CheckCaller(context); !s.ok()) return s;
  auto risk = actions::ValidateCommand(request->action(), request->params(), request->filter());
  if (!risk.ok()) return ToGrpcStatus(risk.status());
  if (request->timeout_seconds() > kMaxTimeout) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        fmt::format("a timeout of {} s is longer than the {} s allowed",
                                    request->timeout_seconds(), kMaxTimeout));
  }

  // The hosts, in the order given (or by name for --all), each once.
  auto known = store_.ListHosts();
  if (!known.ok()) return ToGrpcStatus(known.status());
  std::map<std::string, bool> connected;
  for (const auto& h : *known) connected[h.name] = h.connected;
  std::vector<std::string> hosts;
  std::set<std::string> seen;
  if (request->all_hosts()) {
    if (!request->hosts().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "give --host or --all, not both");
    }
    for (const auto& [name, up] : connected) hosts.push_back(name);
    if (hosts.empty()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "the fleet has no hosts yet; start mailfleet-agent on the mail hosts");
    }
  } else {
    if (request->hosts().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "name the hosts (--host H, repeatable) or take every one (--all)");
    }
    if (auto s = CheckHostsKnown(*known, request->hosts()); !s.ok()) return s;
    for (const auto& h : request->hosts()) {
      if (seen.insert(h).second) hosts.push_back(h);
    }
  }

  // diagnose: each agent probes its peers' port 25 (fleet.reachability), by address.
  const bool diagnose = request->action() == "diagnose";
  mailfleet::v1::CommandRequest effective = *request;
  if (diagnose && !effective.params().contains("peers")) {
    std::vector<std::string> peers;
    for (const auto& h : *known) {
      if (!h.connected) continue;
      // The address its stream comes from reaches it; else the first address it reports.
      std::string address = PeerAddress(h.peer);
      for (int i = 0; address.empty() && i < h.inventory.addresses_size(); ++i) {
        if (IsAddress(h.inventory.addresses(i))) address = h.inventory.addresses(i);
      }
      if (!address.empty()) peers.push_back(fmt::format("{}={}", h.name, address));
    }
    (*effective.mutable_params())["peers"] = fmt::format("{}", fmt::join(peers, ","));
  }
  std::vector<std::string> selected_checks;
  if (auto it = effective.params().find("checks"); it != effective.params().end()) {
    for (const std::string& c :
         std::vector<std::string>(absl::StrSplit(it->second, ',', absl::SkipEmpty())))
      selected_checks.push_back(c);
  }
  int64_t log_window = 900;
  if (auto it = effective.params().find("log_window"); it != effective.params().end()) {
    log_window = std::stoll(it->second);
  }
  std::vector<HostResult> finished;

  // Rollout: the canary alone first, then batches; offline hosts wait or are left out.
  NewCommand command;
  command.requested_by = Requester(context, request->local_user());
  command.risk = std::string(actions::RiskName(*risk));
  command.collector_id = options_.collector_id;
  command.request = effective;
  uint32_t timeout = request->timeout_seconds() == 0 ? kDefaultTimeout : request->timeout_seconds();
  command.timeout = std::chrono::seconds(timeout);
  uint32_t ttl =
      request->offline_ttl_seconds() == 0 ? kDefaultOfflineTtl : request->offline_ttl_seconds();
  auto now = std::chrono::system_clock::now();
  command.queued_until = now + std::chrono::seconds(ttl);
  int waves = 0;
  int in_wave = 0;
  for (const auto& h : hosts) {
    NewCommand::Target t{.host = h};
    if (!connected[h]) {
      t.state = request->queue_offline() ? "queued" : "offline";
      t.wave = -1;
    } else {
      bool canary_done = !request->canary() || waves > 0;
      size_t wave_size = !canary_done ? 1 : request->batch() == 0 ? hosts.size() : request->batch();
      if (in_wave == 0) ++waves;
      t.wave = waves - 1;
      t.state = t.wave == 0 ? "pending" : "waiting";
      if (++in_wave >= static_cast<int>(wave_size)) in_wave = 0;
    }
    command.targets.push_back(std::move(t));
  }

  uint64_t seen_seq = dispatcher_.results_seq();
  auto id = store_.CreateCommand(command, now);
  if (!id.ok()) return ToGrpcStatus(id.status());
  dispatcher_.Wake();  // this replica's own agents need not wait for the notification

  CommandEvent event;
  auto* accepted = event.mutable_accepted();
  accepted->set_command_id(*id);
  for (const auto& t : command.targets) accepted->add_hosts(t.host);
  accepted->set_risk(command.risk);
  writer->Write(event);

  std::set<std::string> reported;
  mailfleet::v1::CommandDone done;
  done.set_command_id(*id);
  auto report = [&](HostResult r) {
    if (!reported.insert(r.host()).second) return;
    // The stored log lines, which the collector has and the agent not, add logs.errors and
    // the recent authentication failures to auth.dovecot.
    auto log_since = TimePoint::clock::now() - std::chrono::seconds(log_window);
    if (diagnose && r.status() == "ok") {
      for (auto& c : *r.mutable_result()->mutable_checks()) {
        if (c.id() != "auth.dovecot") continue;
        auto failures = store_.AuthFailures(r.host(), log_since);
        if (failures.ok()) {
          c.set_evidence(
              fmt::format("{}; logs, last {} min: {} Dovecot auth failures, {} SASL "
                          "failures",
                          c.evidence(), log_window / 60, failures->first, failures->second));
        }
      }
    }
    if (diagnose && r.status() == "ok" && actions::CheckSelected(selected_checks, "logs.errors")) {
      auto errors = store_.LogErrors(r.host(), log_since);
      if (errors.ok()) {
        *r.mutable_result()->add_checks() = *errors;
      } else {
        auto* c = r.mutable_result()->add_checks();
        c->set_id("logs.errors");
        c->set_status("unknown");
        c->set_summary(std::string(errors.status().message()));
      }
    }
    if (diagnose && r.status() == "ok") {
      // Kept as shown, so the audit and `diagnose --changes` see the collector's checks too.
      absl::Status kept = store_.UpdateTargetResult(*id, r.host(), r.result());
      if (!kept.ok()) spdlog::warn("diagnose {}: {}", *id, kept.message());
    }
    finished.push_back(r);
    if (r.status() == "ok") {
      done.set_ok(done.ok() + 1);
    } else if (Failed(r.status())) {
      done.set_failed(done.failed() + 1);
    } else if (r.status() == "queued") {
      done.set_queued(done.queued() + 1);
    } else {
      done.set_not_run(done.not_run() + 1);
    }
    CommandEvent e;
    *e.mutable_result() = r;
    writer->Write(e);
  };
  for (const auto& t : command.targets) {
    if (t.state == "offline" || t.state == "queued") {
      HostResult r;
      r.set_host(t.host);
      r.set_status(t.state);
      r.set_error(t.state == "offline"
                      ? "the host is offline; not sent (--queue-offline keeps it until it returns)"
                      : fmt::format("the host is offline; kept for {} s until it returns", ttl));
      report(r);
    }
  }

  bool stopped = false;
  for (int wave = 0; wave < waves && !stopped; ++wave) {
    std::set<std::string> members;
    for (const auto& t : command.targets) {
      if (t.wave == wave) members.insert(t.host);
    }
    if (wave > 0) {
      if (auto s = store_.StartWave(*id, wave); !s.ok()) return ToGrpcStatus(s);
      dispatcher_.Wake();
    }
    auto deadline = absl::Now() + absl::Seconds(timeout) + absl::FromChrono(kGrace);
    bool wave_failed = false;
    for (;;) {
      auto targets = store_.CommandTargets(*id);
      if (!targets.ok()) return ToGrpcStatus(targets.status());
      size_t finished = 0;
      for (const auto& r : *targets) {
        if (!members.contains(r.host()) || !Final(r.status())) continue;
        ++finished;
        wave_failed = wave_failed || Failed(r.status());
        report(r);
      }
      if (finished == members.size()) break;
      if (context->IsCancelled()) {
        // The operator went away: what has not started is not started.
        (void)store_.SettleTargets(*id, {"waiting", "pending", "queued"}, "cancelled",
                                   "the caller cancelled before it was sent",
                                   TimePoint::clock::now());
        return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller");
      }
      if (absl::Now() >= deadline) {
        auto s = store_.SettleTargets(
            *id, {"pending", "sent"}, "timeout",
            fmt::format("no result within {} s (a late result is still recorded; see "
                        "`mailfleet audit`)",
                        timeout),
            TimePoint::clock::now(), wave);
        if (!s.ok()) return ToGrpcStatus(s);
        continue;  // read them back as timed out
      }
      if (!dispatcher_.AwaitResults(&seen_seq,
                                    std::min(deadline, absl::Now() + absl::Seconds(1)))) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the collector is shutting down");
      }
    }
    if (wave_failed && (request->canary() || request->batch() > 0) && wave + 1 < waves) {
      stopped = true;
      auto s = store_.SettleTargets(*id, {"waiting", "queued"}, "skipped",
                                    "not run: the rollout stopped at the first failure",
                                    TimePoint::clock::now());
      if (!s.ok()) return ToGrpcStatus(s);
      auto targets = store_.CommandTargets(*id);
      if (!targets.ok()) return ToGrpcStatus(targets.status());
      for (const auto& r : *targets) {
        if (r.status() == "skipped") report(r);
      }
    }
  }
  if (diagnose) {
    auto fleet = FleetChecks(finished);
    std::erase_if(fleet,
                  [&](const auto& c) { return !actions::CheckSelected(selected_checks, c.id()); });
    if (auto s = store_.SetCommandFleet(*id, fleet); !s.ok()) return ToGrpcStatus(s);
    for (auto& c : fleet) *done.add_fleet() = std::move(c);
  }
  CommandEvent last;
  *last.mutable_done() = done;
  writer->Write(last);
  return grpc::Status::OK;
}

grpc::Status ControlService::Audit(grpc::ServerContext* context,
                                   const mailfleet::v1::AuditRequest* request,
                                   mailfleet::v1::AuditResponse* response) {
  if (auto s = CheckCaller(context); !s.ok()) return s;
  auto audit = store_.Audit(*request);
  if (!audit.ok()) return ToGrpcStatus(audit.status());
  *response = *std::move(audit);
  return grpc::Status::OK;
}

}  // namespace mailfleet::collector
