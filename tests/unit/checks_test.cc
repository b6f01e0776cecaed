// diagnose's judging on recorded real outputs (the lab's /proc/net/tcp, nft list ruleset with
// the port25-blocked fault, postqueue -j, postfix check, transport maps), and the
// collector's fleet checks on hand-built host results.
#include "agent/exec/checks.h"

#include <string>
#include <vector>

#include "cli/diagnose_command.h"
#include "collector/server/fleet_checks.h"
#include "common/text.h"
#include "gtest/gtest.h"

namespace mailfleet {
namespace {

using agent::Listener;
using mailfleet::v1::CheckResult;
using mailfleet::v1::HostResult;

// /proc/net/tcp and tcp6 of lab host h2 (Postfix on 25, Dovecot on 143, one client socket).
constexpr char kProcNetTcp[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    "   0: 00000000:008F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "677978 1 00000000c62dbf8e 100 0 0 10 0\n"
    "   1: 00000000:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "674232 1 0000000093190be2 100 0 0 10 0\n"
    "   2: 0C0012C6:8052 0D0012C6:0019 06 00000000:00000000 03:00000B06 00000000     0        0 "
    "0 3 00000000062b4862\n"
    "   3: 0100007F:024B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "1 1 0000000000000000 100 0 0 10 0\n";
constexpr char kProcNetTcp6[] =
    "  sl  local_address                         remote_address                        st\n"
    "   0: 00000000000000000000000000000000:0019 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n"
    "   1: 0000000000000000FFFF00000C0012C6:C4D0 0000000000000000FFFF0000010012C6:1D13 01 "
    "00000000:00000000 00:00000000 00000000     0        0 671380 1 0 22 4 31 154 -1\n";

constexpr char kMasterCf[] =
    "# service type  private unpriv  chroot  wakeup  maxproc command\n"
    "smtp      inet  n       -       n       -       -       smtpd\n"
    "#submission inet n       -       n       -       -       smtpd\n"
    "pickup    unix  n       -       n       60      1       pickup\n";

TEST(ChecksTest, ProcNetTcpListenersOnly) {
  auto v4 = agent::ParseProcNetTcp(kProcNetTcp, false);
  ASSERT_EQ(v4.size(), 3u);
  EXPECT_EQ(v4[0].address, "0.0.0.0");
  EXPECT_EQ(v4[0].port, 143);
  EXPECT_EQ(v4[1].port, 25);
  EXPECT_EQ(v4[2].address, "127.0.0.1");
  EXPECT_EQ(v4[2].port, 587);
  auto v6 = agent::ParseProcNetTcp(kProcNetTcp6, true);
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0].address, "::");
  EXPECT_EQ(v6[0].port, 25);
  EXPECT_TRUE(agent::ParseProcNetTcp("garbage\nmore garbage\n", false).empty());
}

TEST(ChecksTest, PortsAgainstTheConfiguration) {
  auto listeners = agent::ParseProcNetTcp(kProcNetTcp, false);
  CheckResult ok = agent::JudgePorts(listeners, "all", kMasterCf, "imap lmtp");
  EXPECT_EQ(ok.status(), "ok") << ok.summary();
  EXPECT_NE(ok.evidence().find("25 on 0.0.0.0"), std::string::npos) << ok.evidence();

  std::vector<Listener> no_smtp = {{"0.0.0.0", 143}};
  CheckResult stopped = agent::JudgePorts(no_smtp, "all", kMasterCf, "imap lmtp");
  EXPECT_EQ(stopped.status(), "fail");
  EXPECT_NE(stopped.summary().find("port 25 does not listen"), std::string::npos);
  EXPECT_NE(stopped.remedy().find("Connection refused"), std::string::npos);

  std::vector<Listener> no_imap = {{"0.0.0.0", 25}};
  EXPECT_EQ(agent::JudgePorts(no_imap, "all", kMasterCf, "imap lmtp").status(), "fail");
  EXPECT_EQ(agent::JudgePorts(no_imap, "all", kMasterCf, "lmtp").status(), "ok");

  std::vector<Listener> loopback = {{"127.0.0.1", 25}, {"0.0.0.0", 143}};
  CheckResult minimal = agent::JudgePorts(loopback, "loopback-only", kMasterCf, "imap");
  EXPECT_EQ(minimal.status(), "warn");
  EXPECT_NE(minimal.remedy().find("emergency restore"), std::string::npos);
}

TEST(ChecksTest, FirewallRulesThatDropMailPorts) {
  // nft list ruleset on h2 with the port25-blocked fault.
  constexpr char kBlocked[] =
      "table inet mflab_fault {\n\tchain input {\n\t\ttype filter hook input priority filter; "
      "policy accept;\n\t\ttcp dport 25 drop\n\t}\n}\n";
  CheckResult c = agent::JudgeFirewall(kBlocked, "nft list ruleset");
  EXPECT_EQ(c.status(), "fail");
  EXPECT_NE(c.evidence().find("tcp dport 25 drop"), std::string::npos) << c.evidence();
  EXPECT_EQ(agent::JudgeFirewall("table inet f {\n tcp dport 22 drop\n}\n", "nft").status(), "ok");
  EXPECT_EQ(agent::JudgeFirewall(" tcp dport { 22, 587 } reject\n", "nft").status(), "fail");
  EXPECT_EQ(agent::JudgeFirewall(" tcp dport 20-30 drop\n", "nft").status(), "fail");
  EXPECT_EQ(agent::JudgeFirewall(" tcp dport 25 accept\n", "nft").status(), "ok");
  EXPECT_EQ(agent::JudgeFirewall("-A INPUT -p tcp -m tcp --dport 465 -j REJECT\n", "iptables-save")
                .status(),
            "fail");
  EXPECT_EQ(
      agent::JudgeFirewall("-A INPUT -p tcp --dport 2525 -j DROP\n", "iptables-save").status(),
      "ok");
  EXPECT_EQ(agent::JudgeFirewall("", "nft list ruleset").status(), "ok");
}

TEST(ChecksTest, QueueSizeAndAgeAgainstThresholds) {
  agent::DiagnoseOptions o;
  o.queue_warn = 2;
  o.queue_fail = 4;
  o.age_warn = 600;
  o.age_fail = 3600;
  auto message = [](const char* queue, int64_t arrival, const char* reason) {
    mailfleet::v1::QueueMessage m;
    m.set_queue_name(queue);
    m.set_queue_id("3F1A2B4C5D");
    m.set_arrival_time(arrival);
    auto* r = m.add_recipients();
    r->set_address("bob@example.com");
    r->set_delay_reason(reason);
    return m;
  };
  auto empty = agent::JudgeQueue({}, 10'000, o);
  ASSERT_EQ(empty.size(), 2u);
  EXPECT_EQ(empty[0].status(), "ok");
  EXPECT_EQ(empty[1].summary(), "no deferred mail");
  std::vector<mailfleet::v1::QueueMessage> q = {message("deferred", 9'000, "deferred transport"),
                                                message("deferred", 9'900, "x"),
                                                message("hold", 5'000, "")};
  auto r = agent::JudgeQueue(q, 10'000, o);
  EXPECT_EQ(r[0].status(), "warn");
  EXPECT_EQ(r[0].summary(), "3 messages queued (2 deferred, 1 held)");
  EXPECT_EQ(r[1].status(), "warn");  // oldest deferred: 1000 s
  EXPECT_NE(r[1].evidence().find("deferred transport"), std::string::npos);
  q.push_back(message("deferred", 1'000, "connect to mx[192.0.2.1]:25: Connection timed out"));
  r = agent::JudgeQueue(q, 10'000, o);
  EXPECT_EQ(r[0].status(), "fail");
  EXPECT_EQ(r[1].status(), "fail");
  EXPECT_NE(r[0].remedy().find("Mail queue stuck"), std::string::npos);
}

TEST(ChecksTest, PostfixCheckOutput) {
  RunResult clean{.exit_code = 0};
  EXPECT_EQ(agent::JudgePostfixCheck(clean, "relayhost =").status(), "ok");
  RunResult warns{.exit_code = 0,
                  .err =
                      "postfix/postfix-script: warning: not owned by postfix: "
                      "/var/spool/postfix/private\n"};
  EXPECT_EQ(agent::JudgePostfixCheck(warns, "").status(), "warn");
  RunResult broken{.exit_code = 1,
                   .err =
                       "postfix: fatal: /etc/postfix/main.cf, line 12: missing '=' after "
                       "attribute name: \"relayhost\"\n"};
  CheckResult c = agent::JudgePostfixCheck(broken, "");
  EXPECT_EQ(c.status(), "fail");
  EXPECT_NE(c.evidence().find("missing '='"), std::string::npos);
}

TEST(ChecksTest, TransportNextHops) {
  auto hops = agent::TransportNextHops(
      "# lab\nh3.lab.test smtp:[h2.lab.test]:25\nh4.lab.test smtp:[h2.lab.test]:25\n"
      "example.com relay:mx.example.net\nlocal.test lmtp:unix:private/dovecot-lmtp\n"
      "other.test lmtp:inet:[198.18.0.7]:24\nerror.test error:gone\n\n");
  ASSERT_EQ(hops.size(), 3u);
  EXPECT_EQ(hops[0], (std::pair<std::string, int>{"h2.lab.test", 25}));
  EXPECT_EQ(hops[1], (std::pair<std::string, int>{"mx.example.net", 25}));
  EXPECT_EQ(hops[2], (std::pair<std::string, int>{"198.18.0.7", 24}));
  EXPECT_EQ(agent::ParseNextHop("[198.18.0.254]:587"),
            (std::pair<std::string, int>{"198.18.0.254", 587}));
  EXPECT_EQ(agent::ParseNextHop("relay.example"),
            (std::pair<std::string, int>{"relay.example", 25}));
}

TEST(ChecksTest, SelectionByIdAndFamily) {
  EXPECT_TRUE(agent::Selected({}, "dns.mx"));
  EXPECT_TRUE(agent::Selected({"dns."}, "dns.mx"));
  EXPECT_FALSE(agent::Selected({"dns."}, "dnsx.mx"));
  EXPECT_TRUE(agent::Selected({"queue.size", "smtp.relay"}, "smtp.relay"));
  EXPECT_FALSE(agent::Selected({"queue.size"}, "queue.age"));
}

HostResult Host(const std::string& name, std::map<std::string, std::string> values) {
  HostResult h;
  h.set_host(name);
  h.set_status("ok");
  for (auto& [k, v] : values) (*h.mutable_result()->mutable_values())[k] = v;
  return h;
}

std::string PostconfN(int k, const std::string& extra = "") {
  return "inet_interfaces = all\nmyhostname = h" + std::to_string(k) +
         ".lab.test\nqueue_directory = /var/lib/mailfleet-lab/h" + std::to_string(k) +
         "/spool\nvirtual_mailbox_domains = h" + std::to_string(k) + ".lab.test\n" + extra;
}

TEST(FleetChecksTest, ReachabilityMatrix) {
  auto ok = collector::FleetChecks(
      {Host("h1", {{"reach.h2", "ok 1 ms"}}), Host("h2", {{"reach.h1", "ok 2 ms"}})});
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].id(), "fleet.reachability");
  EXPECT_EQ(ok[0].status(), "ok");
  auto blocked =
      collector::FleetChecks({Host("h1", {{"reach.h2", "timeout"}, {"reach.h3", "ok 1 ms"}}),
                              Host("h3", {{"reach.h2", "refused"}, {"reach.h1", "ok 1 ms"}})});
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].status(), "fail");
  EXPECT_EQ(std::vector<std::string>(blocked[0].hosts().begin(), blocked[0].hosts().end()),
            std::vector<std::string>{"h2"});
  EXPECT_NE(blocked[0].evidence().find("h1 -> h2:25 timeout"), std::string::npos);
}

TEST(FleetChecksTest, DriftSetsOwnNamesAsideAndNamesTheOddHost) {
  auto same = collector::FleetChecks({Host("h1", {{"postconf_n", PostconfN(1)}}),
                                      Host("h2", {{"postconf_n", PostconfN(2)}}),
                                      Host("h3", {{"postconf_n", PostconfN(3)}})});
  ASSERT_EQ(same.size(), 1u);
  EXPECT_EQ(same[0].id(), "fleet.config_drift");
  EXPECT_EQ(same[0].status(), "ok") << same[0].evidence();
  auto drift = collector::FleetChecks(
      {Host("h1", {{"postconf_n", PostconfN(1)}}),
       Host("h2", {{"postconf_n", PostconfN(2, "relayhost = [198.18.0.254]:25\n")}}),
       Host("h3", {{"postconf_n", PostconfN(3)}})});
  EXPECT_EQ(drift[0].status(), "warn");
  EXPECT_EQ(std::vector<std::string>(drift[0].hosts().begin(), drift[0].hosts().end()),
            std::vector<std::string>{"h2"});
  EXPECT_NE(drift[0].evidence().find("h2: postconf relayhost = [198.18.0.254]:25 (fleet: (unset))"),
            std::string::npos)
      << drift[0].evidence();
  // Two hosts have no majority to drift from.
  auto two = collector::FleetChecks({Host("h1", {{"postconf_n", PostconfN(1)}}),
                                     Host("h2", {{"postconf_n", PostconfN(2, "a = b\n")}})});
  EXPECT_EQ(two[0].status(), "ok");
}

TEST(DiagnoseCliTest, ExitCodesAndJson) {
  auto with = [](const std::string& host, const std::string& status) {
    HostResult h;
    h.set_host(host);
    h.set_status("ok");
    auto* c = h.mutable_result()->add_checks();
    c->set_id("service.postfix");
    c->set_status(status);
    c->set_summary("s \"quoted\"");
    return h;
  };
  EXPECT_EQ(cli::DiagnoseExitCode({with("h1", "ok"), with("h2", "unknown")}, {}), 0);
  EXPECT_EQ(cli::DiagnoseExitCode({with("h1", "ok"), with("h2", "warn")}, {}), 1);
  EXPECT_EQ(cli::DiagnoseExitCode({with("h1", "fail"), with("h2", "warn")}, {}), 2);
  HostResult offline;
  offline.set_host("h3");
  offline.set_status("offline");
  EXPECT_EQ(cli::DiagnoseExitCode({with("h1", "ok"), offline}, {}), 3);
  EXPECT_EQ(cli::DiagnoseExitCode({with("h1", "fail"), offline}, {}), 2);
  CheckResult fleet;
  fleet.set_id("fleet.reachability");
  fleet.set_status("fail");
  EXPECT_EQ(cli::DiagnoseExitCode({with("h1", "ok")}, {fleet}), 2);
  std::string json = cli::DiagnoseJson({with("h1", "fail"), offline}, {fleet});
  EXPECT_EQ(json.find("{\"hosts\":[{\"host\":\"h1\",\"reachable\":true,\"checks\":[{\"id\":"
                      "\"service.postfix\",\"status\":\"fail\",\"summary\":\"s \\\"quoted\\\"\""),
            0u)
      << json;
  EXPECT_NE(json.find("\"host\":\"h3\",\"reachable\":false"), std::string::npos);
  EXPECT_NE(json.find("\"fleet\":[{\"id\":\"fleet.reachability\",\"status\":\"fail\""),
            std::string::npos);
}

}  // namespace
}  // namespace mailfleet

namespace mailfleet {
namespace {

TEST(TextTest, LinesFieldsAndTrim) {
  EXPECT_EQ(SplitLines("a\nb\r\n\nc"), (std::vector<std::string_view>{"a", "b\r", "", "c"}));
  EXPECT_EQ(SplitLines("a\n"), (std::vector<std::string_view>{"a"}));
  EXPECT_TRUE(SplitLines("").empty());
  EXPECT_EQ(SplitFields(" a, b,,c ", ", "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(SplitFields(" , ", ", ").empty());
  EXPECT_EQ(TrimSpace("\t x y \r\n"), "x y");
  EXPECT_EQ(TrimSpace(" \n"), "");
}

}  // namespace
}  // namespace mailfleet
