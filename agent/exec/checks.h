// The troubleshooting guide's checks, run by the agent on its own host (issue: diagnose).
// Each returns {id, status ok|warn|fail|unknown, summary, evidence, remedy}. The parsing and
// judging parts are pure functions over recorded outputs (unit-tested); RunChecks gathers
// the inputs: commands through the ProcessRunner, /proc, statvfs, DNS and SMTP probes.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/process_runner.h"
#include "mailfleet/v1/agent.pb.h"

namespace mailfleet::agent {

using mailfleet::v1::CheckResult;

struct DiagnoseOptions {
  std::string agent_name;
  std::string postfix_config_dir;
  std::string dovecot_config;
  std::string auth_probe_user;  // empty: auth.dovecot reports unknown
  std::string auth_probe_password;
  std::vector<std::string> maildir_users;                  // empty: sample the userdb
  std::vector<std::string> selected;                       // ids or families ("dns."); empty: all
  std::vector<std::pair<std::string, std::string>> peers;  // fleet name, address
  int64_t queue_warn = 50, queue_fail = 500;               // messages
  int64_t age_warn = 3600, age_fail = 4 * 3600;            // seconds, oldest deferred
  std::chrono::milliseconds probe_timeout{2000};
};

// Runs the selected checks; fills result->checks and, for the collector's fleet checks,
// result->values ("reach.<peer>" = "ok 3 ms" | "refused" | "timeout", "postconf_n").
void RunChecks(ProcessRunner& runner, const Clock& clock, const DiagnoseOptions& options,
               mailfleet::v1::ActionResult* result);

// Every check id RunChecks knows, in its order.
const std::vector<std::string>& CheckIds();
bool Selected(const std::vector<std::string>& selected, std::string_view id);

// --- Pure parts, on recorded outputs ---------------------------------------------------------

CheckResult MakeCheck(std::string id, std::string status, std::string summary, std::string evidence,
                      std::string remedy);

// queue.size and queue.age from postqueue -j's messages. now in seconds.
std::vector<CheckResult> JudgeQueue(const std::vector<mailfleet::v1::QueueMessage>& messages,
                                    int64_t now, const DiagnoseOptions& options);

struct Listener {
  std::string address;  // "0.0.0.0", "127.0.0.1", "::", "198.18.0.11"
  int port = 0;
};
// The LISTEN sockets of /proc/net/tcp (v6 = false) or /proc/net/tcp6.
std::vector<Listener> ParseProcNetTcp(std::string_view text, bool v6);

// ports.listen: the mail ports that listen, against what the configuration expects.
// master_cf: Postfix's master.cf; protocols: Dovecot's `protocols`.
CheckResult JudgePorts(const std::vector<Listener>& listeners, std::string_view inet_interfaces,
                       std::string_view master_cf, std::string_view protocols);

// firewall.mail_ports: rules in `nft list ruleset` (or iptables-save) output that drop or
// reject a mail port.
CheckResult JudgeFirewall(std::string_view ruleset, std::string_view source);

// config.postfix from `postfix check`'s run and the key parameters (postconf name = value).
CheckResult JudgePostfixCheck(const RunResult& check, std::string_view parameters);

// The next hops of a transport map's source text ("example.com smtp:[relay.example]:25"):
// host and port of smtp/relay/lmtp-over-inet entries, each once.
std::vector<std::pair<std::string, int>> TransportNextHops(std::string_view text);
// "[relay.example]:587" -> relay.example, 587; "relay.example" -> relay.example, 25.
std::pair<std::string, int> ParseNextHop(std::string_view hop);

}  // namespace mailfleet::agent
