// mailfleet: the control CLI. Every operation of the system; tables for people, --json for
// scripts. Settings: flag > environment (MAILFLEET_*) > config file > built-in default.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "CLI/CLI.hpp"
#include "cli/client.h"
#include "cli/config_command.h"
#include "cli/diagnose_command.h"
#include "cli/fleet_command.h"
#include "cli/format.h"
#include "cli/logs_command.h"
#include "cli/parse_command.h"
#include "cli/queue_command.h"
#include "cli/stats_command.h"
#include "common/flags.h"
#include "common/status_macros.h"
#include "common/version.h"
#include "fmt/format.h"
#include "grpc/support/log.h"
#include "grpcpp/create_channel.h"
#include "mailfleet/v1/control.grpc.pb.h"

namespace mailfleet::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int Fail(const absl::Status& status) {
  std::cerr << "mailfleet: " << status.message() << "\n";
  return kExitError;
}

int RunHosts(const CliConfig& config, const std::string& name, bool json) {
  auto client = Client::Connect(config);
  if (!client.ok()) return Fail(client.status());
  auto now = std::chrono::system_clock::now();
  if (!name.empty()) {
    mailfleet::v1::GetHostRequest request;
    request.set_name(name);
    mailfleet::v1::GetHostResponse response;
    auto s = client->Call(&mailfleet::v1::ControlService::Stub::GetHost, request, &response);
    if (!s.ok()) return Fail(s);
    if (json) {
      std::cout << ToJson(response.host()) << "\n";
    } else {
      google::protobuf::RepeatedPtrField<mailfleet::v1::Host> one;
      *one.Add() = response.host();
      std::cout << FormatHostsTable(one, now);
      const auto& inv = response.host().inventory();
      std::cout << "\nhostname:     " << inv.hostname() << "\nos:           " << inv.os()
                << "\nkernel:       " << inv.kernel() << "\nagent:        " << inv.agent_version()
                << "\npostfix -c:   " << inv.postfix_config_dir()
                << "\ndovecot -c:   " << inv.dovecot_config()
                << "\nconfig hash:  " << inv.postfix_config_hash()
                << "\npeer:         " << response.host().peer() << "\n";
      for (const auto& e : inv.inventory_errors()) std::cout << "problem:      " << e << "\n";
      const auto& p = response.host().pipeline();
      if (p.sources_size() > 0) {
        std::cout << fmt::format("\nlog pipeline: {} lines sent, {} stored, {} batches in flight\n",
                                 p.events_sent(), p.events_acked(), p.batches_in_flight());
        std::vector<std::vector<std::string>> rows = {
            {"SOURCE", "PATH", "LINES READ", "STORED UP TO", "SIZE", "LAG"}};
        for (const auto& s : p.sources()) {
          rows.push_back({s.source_id().substr(0, 12), s.path() + (s.live() ? "" : " (rotated)"),
                          std::to_string(s.lines_read()), Bytes(s.acked_offset()), Bytes(s.size()),
                          s.lag_bytes() == 0
                              ? "none"
                              : fmt::format("{}, {}s", Bytes(s.lag_bytes()), s.lag_seconds())});
        }
        std::cout << FormatTable(rows);
      }
    }
    return kExitOk;
  }
  mailfleet::v1::ListHostsResponse response;
  auto s = client->Call(&mailfleet::v1::ControlService::Stub::ListHosts,
                        mailfleet::v1::ListHostsRequest(), &response);
  if (!s.ok()) return Fail(s);
  if (json) {
    std::cout << ToJson(response) << "\n";
  } else if (response.hosts().empty()) {
    std::cout << "no hosts yet: start mailfleet-agent on a mail host with --collector "
              << config.collector << "\n";
  } else {
    std::cout << FormatHostsTable(response.hosts(), now);
  }
  return kExitOk;
}

int RunVersion(const CliConfig& config, bool json) {
  mailfleet::v1::GetServerInfoResponse info;
  absl::Status s = absl::OkStatus();
  auto client = Client::Connect(config);
  s = client.ok() ? client->Call(&mailfleet::v1::ControlService::Stub::GetServerInfo,
                                 mailfleet::v1::GetServerInfoRequest(), &info)
                  : client.status();
  if (json) {
    std::cout << "{\"cli_version\":\"" << kVersion
              << "\",\"collector\":" << (s.ok() ? ToJson(info) : "null") << "}\n";
  } else {
    std::cout << "mailfleet " << kVersion << "\n";
    if (s.ok()) {
      std::cout << "collector " << info.collector_id() << " " << info.version() << " (schema "
                << info.schema_version() << ", database " << info.database() << ")\n";
    } else {
      std::cout << "collector: unavailable (" << s.message() << ")\n";
    }
  }
  return kExitOk;
}

void AddTargetOptions(CLI::App* app, TargetOptions& t, bool hosts_default_all) {
  app->add_option("--host", t.hosts, "This host (repeatable)");
  app->add_flag("--all", t.all,
                hosts_default_all ? "Every host (the default)" : "Every host of the fleet");
  app->add_option("--queue", t.queues,
                  "Only messages in this queue: incoming, active, deferred, hold, corrupt "
                  "(repeatable)");
  app->add_option("--from", t.from, "Sender address or domain (<> for the null sender)");
  app->add_option("--to", t.to, "A recipient's address or domain");
  app->add_option("--older-than", t.older_than, "Queued longer than this: 30m, 2h, 1d");
  app->add_option("--younger-than", t.younger_than, "Queued for less than this");
  app->add_option("--reason", t.reason, "Delay reason containing this text (case-insensitive)");
  app->add_option("--min-size", t.min_size, "At least this size: 4096, 12k, 3M");
  app->add_option("--id", t.ids, "This queue id (repeatable)");
}

void AddRolloutOptions(CLI::App* app, RolloutOptions& r, bool queue_action) {
  if (queue_action) {
    app->add_flag("--dry-run,-n", r.dry_run,
                  "Show per host how many and which messages it would touch; change nothing");
    app->add_flag("--everything", r.everything,
                  "Act on every message in the selected queues (required when no filter is given)");
  }
  app->add_flag("--yes,-y", r.yes, "Do not ask for confirmation");
  app->add_flag("--canary", r.canary, "Run on the first host alone, then on the rest");
  app->add_option("--batch", r.batch,
                  "Then at most N hosts at a time; a failure stops the rollout");
  app->add_flag("--queue-offline", r.queue_offline,
                "Keep the command for offline hosts and run it when they return");
  app->add_option("--offline-ttl", r.offline_ttl,
                  "How long --queue-offline keeps it (default 1h): 30m, 2h, 1d");
  app->add_option("--timeout", r.timeout, "Seconds each host may take (default 60)");
  app->add_flag("--json", r.json, "One JSON object per line: accepted, each host, done");
}

}  // namespace
}  // namespace mailfleet::cli

int main(int argc, char** argv) {
  using namespace mailfleet;
  using namespace mailfleet::cli;
  signal(SIGPIPE, SIG_IGN);
  // gRPC's own log lines (handshake failures and the like) would repeat, less clearly, what
  // the error message below says.
  gpr_set_log_function([](gpr_log_func_args*) {});

  CliConfig config;
  std::string config_path = DefaultConfigPath(FindConfigFlag(argc, argv));
  if (auto s = LoadSettings(config_path, config); !s.ok()) {
    std::cerr << "mailfleet: " << s.message() << "\n";
    return kExitUsage;
  }

  CLI::App app{
      "mailfleet: control a fleet of Postfix + Dovecot hosts through the "
      "mailfleet-collector.\nSettings come from flags, then MAILFLEET_COLLECTOR, "
      "MAILFLEET_TLS_CA, MAILFLEET_TLS_CERT, MAILFLEET_TLS_KEY, MAILFLEET_INSECURE=1, "
      "then the config file (--config, $MAILFLEET_CONFIG, ~/.config/mailfleet/cli.toml "
      "or /etc/mailfleet/cli.toml; keys collector, timeout_seconds, tls.ca, tls.cert, "
      "tls.key, tls.insecure).",
      "mailfleet"};
  app.require_subcommand(1);
  app.add_option("--config", config_path, "CLI config file (TOML)");
  app.add_option("--collector", config.collector, "Collector HOST:PORT (default 127.0.0.1:7443)");
  app.add_option("--timeout", config.timeout_seconds,
                 "Seconds to wait for the collector (default 10)");
  AddTlsFlags(app, config.tls);

  bool json = false;
  std::string host_name;
  auto* hosts = app.add_subcommand("hosts", "List the fleet's hosts, or show one in detail");
  hosts->add_option("name", host_name, "Show only this host, with its whole inventory");
  hosts->add_flag("--json", json, "JSON instead of a table");
  auto* version = app.add_subcommand("version", "Print the CLI's and the collector's versions");
  version->add_flag("--json", json, "JSON instead of text");

  LogsOptions logs_options;
  auto* logs =
      app.add_subcommand("logs", "The fleet's mail log lines, newest last; --follow for live");
  logs->add_option("--host", logs_options.hosts, "Only this host (repeatable)");
  logs->add_option("--since", logs_options.since,
                   "From this time: 2h, 30m, 1d or 2026-11-29T08:00");
  logs->add_option("--until", logs_options.until, "Before this time (same forms)");
  logs->add_option("--queue-id", logs_options.queue_id, "Lines of this Postfix queue id");
  logs->add_option("--message-id", logs_options.message_id,
                   "Every line of the queue ids that carried this Message-ID, on every host");
  logs->add_option("--from", logs_options.from, "Sender address, or a domain");
  logs->add_option("--to", logs_options.to, "Recipient address (or orig_to), or a domain");
  logs->add_option("--status", logs_options.status,
                   "Delivery status: sent, deferred, bounced, expired, deliverable, "
                   "undeliverable, SOFTBOUNCE (soft_bounce = yes)");
  logs->add_option("--service", logs_options.service,
                   "Daemon: smtpd, qmgr, smtp, lmtp, imap-login, ...");
  logs->add_option("--grep", logs_options.grep, "Lines containing this text (case-insensitive)");
  logs->add_option("--limit", logs_options.limit,
                   "At most this many lines, the newest (default 100)");
  logs->add_flag("--follow,-f", logs_options.follow, "Keep printing new matching lines");
  logs->add_flag("--json", logs_options.json, "One JSON object per line");

  StatsOptions stats_options;
  auto* stats =
      app.add_subcommand("stats",
                         "A pflogsumm-style report per host and for the fleet: traffic, deferrals, "
                         "rejects by reason, top senders and recipients, delays, auth failures. "
                         "The fleet counts a message relayed between its hosts once");
  stats->add_option("--host", stats_options.hosts, "Only this host (repeatable)");
  stats->add_option("--since", stats_options.since, "From this time: 2h, 1d or 2026-11-29T08:00");
  stats->add_option("--until", stats_options.until, "Before this time (same forms)");
  stats->add_option("--top", stats_options.top, "Entries per top list (default 10)");
  stats->add_flag("--json", stats_options.json, "JSON instead of the report");

  ParseOptions parse_options;
  auto* parse = app.add_subcommand(
      "parse",
      "Parse mail log files offline (plain or .gz; none or - for stdin): one JSON "
      "event per line");
  parse->add_option("files", parse_options.files, "Log files");
  parse->add_flag("--summary", parse_options.summary, "Counts by kind and service instead");

  QueueOptions queue_options;
  auto* queue = app.add_subcommand(
      "queue",
      "Queued messages fleet-wide (postqueue -j on each host): host, id, queue, age, size, "
      "sender, recipients, reason; --by domain is qshape for the fleet");
  AddTargetOptions(queue, queue_options.targets, true);
  queue->add_option("--by", queue_options.by,
                    "Summarize: domain (recipients by domain and age, per host), age, reason, "
                    "host");
  queue->add_option("--limit", queue_options.limit, "Messages listed at most (default 100)");
  queue->add_flag("--json", queue_options.json, "JSON instead of a table");

  struct QueueAction {
    const char* name;
    const char* action;
    const char* help;
  };
  static const QueueAction kQueueActions[] = {
      {"flush", "queue.flush",
       "Attempt delivery now: postqueue -f, or with a filter postqueue -i for each deferred "
       "match"},
      {"hold", "queue.hold", "Put the matching messages on hold (postsuper -h)"},
      {"release", "queue.release", "Release the matching held messages (postsuper -H)"},
      {"requeue", "queue.requeue",
       "Requeue the matching messages (postsuper -r); asks for confirmation"},
      {"delete", "queue.delete",
       "Delete the matching messages (postsuper -d); asks for confirmation"},
  };
  TargetOptions action_targets;
  RolloutOptions rollout;
  std::vector<std::pair<CLI::App*, std::string>> queue_actions;
  for (const auto& a : kQueueActions) {
    auto* sub = app.add_subcommand(a.name, a.help);
    AddTargetOptions(sub, action_targets, false);
    AddRolloutOptions(sub, rollout, true);
    queue_actions.emplace_back(sub, a.action);
  }

  std::string service_name, service_op;
  auto* service = app.add_subcommand(
      "service", "Start, stop, reload or restart Postfix or Dovecot (stop asks for confirmation)");
  service->add_option("service", service_name, "postfix or dovecot")
      ->required()
      ->check(CLI::IsMember({"postfix", "dovecot"}));
  service->add_option("operation", service_op, "start, stop, reload or restart")
      ->required()
      ->check(CLI::IsMember({"start", "stop", "reload", "restart"}));
  service->add_option("--host", action_targets.hosts, "This host (repeatable)");
  service->add_flag("--all", action_targets.all, "Every host of the fleet");
  AddRolloutOptions(service, rollout, false);

  ConfigOptions config_options;
  auto add_hosts = [&](CLI::App* sub) {
    sub->add_option("--host", config_options.targets.hosts, "This host (repeatable)");
    sub->add_flag("--all", config_options.targets.all, "Every host of the fleet");
    sub->add_flag("--json", config_options.rollout.json, "JSON lines instead of text");
  };
  auto* config_cmd = app.add_subcommand(
      "config",
      "Configuration snapshots (postconf -n, master.cf, doveconf -n) kept by the "
      "collector; diff and restore");
  config_cmd->require_subcommand(1);
  auto* snapshot =
      config_cmd->add_subcommand("snapshot", "Take a snapshot of each host's configuration");
  add_hosts(snapshot);
  auto* diff = config_cmd->add_subcommand(
      "diff",
      "What changed on one host since a snapshot (default: its latest); exit 1 when "
      "something did");
  add_hosts(diff);
  diff->add_option("--snapshot", config_options.snapshot,
                   "Compare with this snapshot (command id)");
  auto* restore = config_cmd->add_subcommand(
      "restore", "Set one host's main.cf back to a snapshot's postconf -n, check and reload");
  add_hosts(restore);
  restore->add_option("--snapshot", config_options.snapshot, "The snapshot (command id)")
      ->required();
  restore->add_flag("--dry-run,-n", config_options.rollout.dry_run,
                    "Show the postconf commands only");
  restore->add_flag("--yes,-y", config_options.rollout.yes, "Do not ask for confirmation");

  std::string emergency_op;
  auto* emergency = app.add_subcommand(
      "emergency",
      "reset: the guide's minimal configuration (main.cf backed up, inet_interfaces = "
      "loopback-only, mydestination = localhost, Postfix restarted); restore: the backup "
      "back, byte for byte. Asks for confirmation.");
  emergency->add_option("operation", emergency_op, "reset or restore")
      ->required()
      ->check(CLI::IsMember({"reset", "restore"}));
  add_hosts(emergency);
  emergency->add_flag("--dry-run,-n", config_options.rollout.dry_run,
                      "Change nothing; show what it would do");
  emergency->add_flag("--yes,-y", config_options.rollout.yes, "Do not ask for confirmation");

  std::string debug_op;
  DebugOptions debug_options;
  auto* debug = app.add_subcommand(
      "debug",
      "Verbose logging for a while: Postfix debug_peer_list/debug_peer_level, Dovecot "
      "auth_debug/mail_debug; the agent turns it off when --ttl ends, even across restarts");
  debug->add_option("operation", debug_op, "on or off")
      ->required()
      ->check(CLI::IsMember({"on", "off"}));
  add_hosts(debug);
  debug->add_option("--ttl", debug_options.ttl, "How long (default 15m): 30s, 15m, 2h");
  debug->add_option("--service", debug_options.service, "postfix, dovecot or both (default)")
      ->check(CLI::IsMember({"postfix", "dovecot", "both"}));
  debug->add_option("--peer", debug_options.peers,
                    "Postfix debug_peer_list entry: host, address or network (repeatable; "
                    "default every peer)");
  debug->add_option("--level", debug_options.level, "Postfix debug_peer_level (default 2)");

  auto* auth = app.add_subcommand("auth", "Dovecot authentication");
  auth->require_subcommand(1);
  auto* cache_flush = auth->add_subcommand("cache-flush", "doveadm auth cache flush on each host");
  add_hosts(cache_flush);

  DiagnoseCliOptions diagnose_options;
  auto* diagnose = app.add_subcommand(
      "diagnose",
      "The troubleshooting guide on every host at once: services, queue, logs, ports, SMTP, "
      "routes, firewall, DNS, auth, Maildirs, configuration, disk, and fleet reachability and "
      "config drift. Exit 0 all ok, 1 some warn, 2 some fail, 3 could not run");
  diagnose->add_option("--host", diagnose_options.targets.hosts, "This host (repeatable)");
  diagnose->add_flag("--all", diagnose_options.targets.all, "Every host (the default)");
  diagnose->add_option("--check", diagnose_options.checks,
                       "Only this check, or a family ending in '.' (dns.) (repeatable)");
  diagnose->add_option("--queue-warn", diagnose_options.queue_warn,
                       "queue.size warns from this many messages (default 50)");
  diagnose->add_option("--queue-fail", diagnose_options.queue_fail,
                       "queue.size fails from this many (default 500)");
  diagnose->add_option("--age-warn", diagnose_options.age_warn,
                       "queue.age warns when the oldest deferred message is older (default 1h)");
  diagnose->add_option("--age-fail", diagnose_options.age_fail, "queue.age fails (default 4h)");
  diagnose->add_option("--log-window", diagnose_options.log_window,
                       "logs.errors looks this far back (default 15m)");
  diagnose->add_option("--timeout", diagnose_options.timeout,
                       "Seconds each host may take (default 60)");
  diagnose->add_flag("--changes", diagnose_options.changes,
                     "Also show what changed since the previous diagnose run");
  diagnose->add_flag(
      "--json", diagnose_options.json,
      "{\"hosts\":[{\"host\",\"checks\":[{\"id\",\"status\",\"summary\",\"evidence\","
      "\"remedy\"}]}],\"fleet\":[...]}");

  AuditOptions audit_options;
  auto* audit = app.add_subcommand(
      "audit", "Every command sent to the fleet: who, what, which hosts, when, and the result");
  audit->add_option("--since", audit_options.since, "From this time: 2h, 1d or 2026-11-29T08:00");
  audit->add_option("--until", audit_options.until, "Before this time (same forms)");
  audit->add_option("--host", audit_options.hosts, "Commands that targeted this host (repeatable)");
  audit->add_option("--action", audit_options.action,
                    "This action (queue.delete), or a family ending in '.' (queue.)");
  audit->add_option("--limit", audit_options.limit, "At most this many, newest first (default 50)");
  audit->add_flag("--json", audit_options.json, "One JSON object per command");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (config.timeout_seconds < 1) {
    std::cerr << "mailfleet: --timeout must be at least 1 second\n";
    return kExitUsage;
  }
  if (*parse) return RunParse(parse_options);
  if (*logs) return RunLogs(config, logs_options);
  if (*stats) return RunStats(config, stats_options);
  if (*hosts) return RunHosts(config, host_name, json);
  if (*queue) return RunQueue(config, queue_options);
  for (const auto& [sub, action] : queue_actions) {
    if (*sub) return RunQueueAction(config, action, action_targets, rollout);
  }
  if (*service) return RunService(config, service_name, service_op, action_targets, rollout);
  if (*audit) return RunAudit(config, audit_options);
  if (*diagnose) return RunDiagnose(config, diagnose_options);
  if (*snapshot) return RunConfigSnapshot(config, config_options);
  if (*diff) return RunConfigDiff(config, config_options);
  if (*restore) return RunConfigRestore(config, config_options);
  if (*emergency) return RunEmergency(config, emergency_op, config_options);
  if (*debug) return RunDebug(config, debug_op, debug_options, config_options);
  if (*cache_flush) return RunAuthCacheFlush(config, config_options);
  if (*version) return RunVersion(config, json);
  return kExitUsage;
}
