#include "agent/exec/checks.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "agent/exec/queue.h"
#include "common/absl_fmt.h"
#include "common/actions/actions.h"
#include "common/files.h"
#include "common/parse/utf8.h"
#include "common/text.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace mailfleet::agent {
namespace {

using Clock_ = std::chrono::steady_clock;

constexpr int kMailPorts[] = {25, 465, 587, 110, 143, 993, 995};

// At most max bytes of text on one line: line breaks become " | ".
std::string Excerpt(std::string_view text, size_t max = 600) {
  std::string out;
  for (char c : parse::ToValidUtf8(text.substr(0, max))) {
    if (c == '\r') continue;
    out += c == '\n' ? std::string(" | ") : std::string(1, c);
  }
  while (out.ends_with(" | ") || out.ends_with(" "))
    out.erase(out.size() - (out.ends_with(" | ") ? 3 : 1));
  if (text.size() > max) out += " ...";
  return out;
}

std::string Trim(std::string_view s) { return TrimSpace(s); }
std::vector<std::string> Fields(std::string_view text, std::string_view delimiters) {
  return SplitFields(text, delimiters);
}

std::string Join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  return fmt::format("{}", fmt::join(v, sep));
}

// --- network probes ---------------------------------------------------------------------------

struct Connection {
  int fd = -1;
  std::string error;  // "refused", "timeout", "unreachable: ...", "no address"
  int64_t connect_ms = 0;
  ~Connection() {
    if (fd >= 0) close(fd);
  }
};

int64_t MsSince(Clock_::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock_::now() - t).count();
}

void Connect(const std::string& address, int port, std::chrono::milliseconds timeout,
             Connection* c) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v6;
  } else {
    c->error = "not an address";
    return;
  }
  auto start = Clock_::now();
  c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    c->error = std::strerror(errno);
    return;
  }
  if (connect(c->fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    c->error = errno == ECONNREFUSED ? "refused" : std::strerror(errno);
    return;
  }
  pollfd p{c->fd, POLLOUT, 0};
  int n = poll(&p, 1, static_cast<int>(timeout.count()));
  if (n == 0) {
    c->error = "timeout";
    return;
  }
  int err = 0;
  socklen_t elen = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
  if (n < 0 || err != 0) {
    c->error = err == ECONNREFUSED ? "refused" : std::strerror(n < 0 ? errno : err);
    return;
  }
  c->connect_ms = MsSince(start);
}

// Reads one SMTP reply (all its lines) within the deadline.
std::optional<std::string> ReadReply(int fd, Clock_::time_point deadline) {
  std::string reply;
  char buf[4096];
  for (;;) {
    // A complete reply ends with a line "NNN " (not "NNN-").
    size_t start = 0;
    while (start < reply.size()) {
      size_t nl = reply.find('\n', start);
      if (nl == std::string::npos) break;
      if (nl - start >= 4 && reply[start + 3] == ' ') return reply;
      if (nl - start == 3 || (nl - start == 4 && reply[start + 3] == '\r')) return reply;
      start = nl + 1;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock_::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    ssize_t got = read(fd, buf, sizeof buf);
    if (got <= 0) return reply.empty() ? std::nullopt : std::optional(reply);
    reply.append(buf, static_cast<size_t>(got));
    if (reply.size() > 65536) return reply;
  }
}

bool WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = write(fd, text.data(), text.size());
    if (n <= 0) return false;
    text.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

struct SmtpProbe {
  std::string target;  // "h2.lab.test[198.18.0.12]:25"
  std::string error;   // empty when the dialogue worked
  std::string banner;
  bool starttls = false;
  int64_t connect_ms = 0, banner_ms = 0, ehlo_ms = 0;
};

SmtpProbe ProbeSmtp(const std::string& name, const std::string& address, int port,
                    const std::string& helo, std::chrono::milliseconds timeout) {
  SmtpProbe p;
  p.target = name == address ? fmt::format("[{}]:{}", address, port)
                             : fmt::format("{}[{}]:{}", name, address, port);
  Connection c;
  Connect(address, port, timeout, &c);
  if (!c.error.empty()) {
    p.error = fmt::format("connect: {}", c.error);
    return p;
  }
  p.connect_ms = c.connect_ms;
  auto t = Clock_::now();
  auto deadline = t + timeout;
  auto banner = ReadReply(c.fd, deadline);
  if (!banner || !banner->starts_with("220")) {
    p.error = banner ? fmt::format("banner: {}", Excerpt(*banner, 200)) : "no banner in time";
    return p;
  }
  p.banner = Trim(banner->substr(0, banner->find('\n')));
  p.banner_ms = MsSince(t);
  t = Clock_::now();
  auto ehlo = WriteAll(c.fd, fmt::format("EHLO {}\r\n", helo)) ? ReadReply(c.fd, deadline + timeout)
                                                               : std::nullopt;
  if (!ehlo || !ehlo->starts_with("250")) {
    p.error = ehlo ? fmt::format("EHLO: {}", Excerpt(*ehlo, 200)) : "no answer to EHLO in time";
    return p;
  }
  p.ehlo_ms = MsSince(t);
  std::string upper = absl::AsciiStrToUpper(*ehlo);
  p.starttls = upper.find("STARTTLS") != std::string::npos;
  WriteAll(c.fd, "QUIT\r\n");
  return p;
}

// --- DNS --------------------------------------------------------------------------------------

enum class DnsOutcome { kAnswer, kNoData, kNxDomain, kTimeout };

struct DnsAnswer {
  DnsOutcome outcome = DnsOutcome::kTimeout;
  std::vector<std::string> records;  // addresses, names
};

// One query through the resolver library, re-reading resolv.conf; with `server`, to that
// server alone.
DnsAnswer Query(const std::string& name, int type, const std::string& server = "") {
  DnsAnswer a;
  struct __res_state st;
  std::memset(&st, 0, sizeof st);
  if (res_ninit(&st) != 0) return a;
  st.retrans = 2;
  st.retry = 1;
  if (!server.empty()) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(53);
    if (inet_pton(AF_INET, server.c_str(), &sa.sin_addr) != 1) {
      res_nclose(&st);
      return a;
    }
    st.nscount = 1;
    st.nsaddr_list[0] = sa;
  }
  unsigned char answer[4096];
  h_errno = 0;
  int len = res_nquery(&st, name.c_str(), ns_c_in, type, answer, sizeof answer);
  int herr = st.res_h_errno;
  res_nclose(&st);
  if (len < 0) {
    a.outcome = herr == HOST_NOT_FOUND ? DnsOutcome::kNxDomain
                : herr == NO_DATA      ? DnsOutcome::kNoData
                                       : DnsOutcome::kTimeout;
    return a;
  }
  ns_msg msg;
  if (ns_initparse(answer, len, &msg) != 0) return a;
  a.outcome = DnsOutcome::kNoData;
  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != type) continue;
    char text[NS_MAXDNAME];
    if (type == ns_t_a && ns_rr_rdlen(rr) == 4) {
      inet_ntop(AF_INET, ns_rr_rdata(rr), text, sizeof text);
    } else if (type == ns_t_aaaa && ns_rr_rdlen(rr) == 16) {
      inet_ntop(AF_INET6, ns_rr_rdata(rr), text, sizeof text);
    } else if (type == ns_t_mx) {
      if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, text,
                             sizeof text) < 0) {
        continue;
      }
    } else if (type == ns_t_ptr) {
      if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr), text,
                             sizeof text) < 0) {
        continue;
      }
    } else {
      continue;
    }
    a.records.push_back(text);
  }
  if (!a.records.empty()) a.outcome = DnsOutcome::kAnswer;
  return a;
}

std::string ReverseName(const std::string& address) {
  in_addr a4;
  if (inet_pton(AF_INET, address.c_str(), &a4) == 1) {
    auto* b = reinterpret_cast<unsigned char*>(&a4);
    return fmt::format("{}.{}.{}.{}.in-addr.arpa", b[3], b[2], b[1], b[0]);
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, address.c_str(), &a6) != 1) return "";
  std::string out;
  for (int i = 15; i >= 0; --i) {
    out += fmt::format("{:x}.{:x}.", a6.s6_addr[i] & 0xf, a6.s6_addr[i] >> 4);
  }
  return out + "ip6.arpa";
}

std::vector<std::string> LocalAddresses(bool with_loopback) {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&a->sin6_addr)) continue;
      inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    } else {
      continue;
    }
    std::string s = text;
    bool loop = s.starts_with("127.") || s == "::1";
    if (loop && !with_loopback) continue;
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  freeifaddrs(list);
  return out;
}

// The host's addresses for `name` (getaddrinfo: /etc/hosts, then DNS), IPv4 first.
std::vector<std::string> Resolve(const std::string& name) {
  std::vector<std::string> out;
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, name.c_str(), &a4) == 1 || inet_pton(AF_INET6, name.c_str(), &a6) == 1) {
    return {name};
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* r = res; r != nullptr; r = r->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (r->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(r->ai_addr)->sin_addr, text, sizeof text);
    } else if (r->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(r->ai_addr)->sin6_addr, text,
                sizeof text);
    }
    if (*text && std::find(out.begin(), out.end(), text) == out.end()) out.push_back(text);
  }
  freeaddrinfo(res);
  std::stable_partition(out.begin(), out.end(),
                        [](const std::string& a) { return a.find(':') == std::string::npos; });
  return out;
}

}  // namespace

CheckResult MakeCheck(std::string id, std::string status, std::string summary, std::string evidence,
                      std::string remedy) {
  CheckResult c;
  c.set_id(std::move(id));
  c.set_status(std::move(status));
  c.set_summary(std::move(summary));
  c.set_evidence(parse::ToValidUtf8(evidence));
  c.set_remedy(std::move(remedy));
  return c;
}

const std::vector<std::string>& CheckIds() {
  static const auto* ids = new std::vector<std::string>{"service.postfix",
                                                        "service.dovecot",
                                                        "queue.size",
                                                        "queue.age",
                                                        "ports.listen",
                                                        "smtp.local",
                                                        "smtp.relay",
                                                        "net.routes",
                                                        "firewall.mail_ports",
                                                        "dns.resolvers",
                                                        "dns.forward",
                                                        "dns.mx",
                                                        "dns.ptr",
                                                        "auth.dovecot",
                                                        "mailbox.maildir",
                                                        "config.postfix",
                                                        "config.dovecot",
                                                        "resources.disk",
                                                        "fleet.reachability",
                                                        "fleet.config_drift"};
  return *ids;
}

bool Selected(const std::vector<std::string>& selected, std::string_view id) {
  return actions::CheckSelected(selected, id);
}

std::vector<CheckResult> JudgeQueue(const std::vector<mailfleet::v1::QueueMessage>& messages,
                                    int64_t now, const DiagnoseOptions& o) {
  std::map<std::string, int64_t> per;
  int64_t oldest = -1;
  std::string oldest_id, oldest_reason;
  for (const auto& m : messages) {
    ++per[m.queue_name()];
    if (m.queue_name() != "deferred") continue;
    int64_t age = now - m.arrival_time();
    if (age > oldest) {
      oldest = age;
      oldest_id = m.queue_id();
      oldest_reason = m.recipients().empty() ? "" : m.recipients(0).delay_reason();
    }
  }
  std::vector<std::string> counts;
  for (const char* q : {"incoming", "active", "deferred", "hold", "corrupt"}) {
    counts.push_back(fmt::format("{} {}", q, per[q]));
  }
  int64_t waiting = per["deferred"] + per["hold"] + per["incoming"] + per["active"];
  std::string evidence =
      fmt::format("postqueue -j: {} messages ({})", messages.size(), Join(counts));
  std::string size_status = waiting >= o.queue_fail   ? "fail"
                            : waiting >= o.queue_warn ? "warn"
                                                      : "ok";
  if (per["corrupt"] > 0 && size_status == "ok") size_status = "warn";
  std::vector<CheckResult> out;
  out.push_back(MakeCheck(
      "queue.size", size_status,
      fmt::format("{} messages queued ({} deferred, {} held){}", waiting, per["deferred"],
                  per["hold"],
                  per["corrupt"] > 0 ? fmt::format(", {} corrupt", per["corrupt"]) : ""),
      evidence,
      size_status == "ok" ? ""
                          : "Mail queue stuck (guide's matrix): see why with `mailfleet queue "
                            "--by reason`; check relayhost and DNS, fix the cause, then "
                            "`mailfleet flush`"));
  std::string age_status = oldest >= o.age_fail ? "fail" : oldest >= o.age_warn ? "warn" : "ok";
  out.push_back(MakeCheck(
      "queue.age", age_status,
      oldest < 0 ? "no deferred mail"
                 : fmt::format("oldest deferred message {} waits for {} s", oldest_id, oldest),
      oldest < 0 ? evidence
                 : fmt::format("{}; its reason: {}", evidence, Excerpt(oldest_reason, 300)),
      age_status == "ok" ? ""
                         : "Mail queue stuck (guide's matrix): the oldest message's reason names "
                           "the cause; check relayhost and DNS, then `mailfleet flush`"));
  return out;
}

std::vector<Listener> ParseProcNetTcp(std::string_view text, bool v6) {
  std::vector<Listener> out;
  bool header = true;
  for (std::string_view line : SplitLines(text)) {
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> f = Fields(line, " ");
    if (f.size() < 4 || f[3] != "0A") continue;  // 0A: LISTEN
    std::string_view local = f[1];               // "0100007F:0019"
    size_t colon = local.find(':');
    if (colon == std::string_view::npos) continue;
    std::string hex(local.substr(0, colon));
    int port =
        static_cast<int>(std::strtol(std::string(local.substr(colon + 1)).c_str(), nullptr, 16));
    char addr[INET6_ADDRSTRLEN] = {};
    if (!v6 && hex.size() == 8) {
      uint32_t raw = static_cast<uint32_t>(std::strtoul(hex.c_str(), nullptr, 16));
      in_addr a;
      a.s_addr = raw;  // the kernel prints the address in host byte order
      inet_ntop(AF_INET, &a, addr, sizeof addr);
    } else if (v6 && hex.size() == 32) {
      in6_addr a;
      for (int w = 0; w < 4; ++w) {
        uint32_t word =
            static_cast<uint32_t>(std::strtoul(hex.substr(w * 8, 8).c_str(), nullptr, 16));
        std::memcpy(&a.s6_addr[w * 4], &word, 4);
      }
      inet_ntop(AF_INET6, &a, addr, sizeof addr);
    } else {
      continue;
    }
    out.push_back({addr, port});
  }
  return out;
}

CheckResult JudgePorts(const std::vector<Listener>& listeners, std::string_view inet_interfaces,
                       std::string_view master_cf, std::string_view protocols) {
  std::map<int, std::vector<std::string>> on;
  for (const auto& l : listeners) {
    if (std::find(std::begin(kMailPorts), std::end(kMailPorts), l.port) != std::end(kMailPorts)) {
      auto& v = on[l.port];
      if (std::find(v.begin(), v.end(), l.address) == v.end()) v.push_back(l.address);
    }
  }
  // What the configuration promises: master.cf's inet services, Dovecot's protocols.
  std::set<int> expected;
  for (std::string_view line : SplitLines(master_cf)) {
    if (line.empty() || line[0] == '#' || line[0] == ' ' || line[0] == '\t') continue;
    std::vector<std::string> f = Fields(line, " \t");
    if (f.size() < 2 || f[1] != "inet") continue;
    std::string service =
        f[0].substr(f[0].rfind(':') == std::string::npos ? 0 : f[0].rfind(':') + 1);
    if (service == "smtp" || service == "25") expected.insert(25);
    if (service == "submission" || service == "587") expected.insert(587);
    if (service == "smtps" || service == "submissions" || service == "465") expected.insert(465);
  }
  std::string proto(protocols);
  std::vector<std::string> problems;
  for (int port : expected) {
    if (!on.contains(port))
      problems.push_back(fmt::format("Postfix's port {} does not listen", port));
  }
  if (proto.find("imap") != std::string::npos && !on.contains(143) && !on.contains(993)) {
    problems.push_back("Dovecot serves imap but neither 143 nor 993 listens");
  }
  if (proto.find("pop3") != std::string::npos && !on.contains(110) && !on.contains(995)) {
    problems.push_back("Dovecot serves pop3 but neither 110 nor 995 listens");
  }
  std::vector<std::string> seen;
  for (const auto& [port, addrs] : on)
    seen.push_back(fmt::format("{} on {}", port, Join(addrs, " ")));
  std::string evidence = fmt::format(
      "/proc/net/tcp, tcp6: {}; inet_interfaces = {}; protocols = {}",
      seen.empty() ? "no mail port listens" : Join(seen, "; "), inet_interfaces, Trim(protocols));
  bool loopback_only =
      on.contains(25) && std::all_of(on[25].begin(), on[25].end(), [](const std::string& a) {
        return a.starts_with("127.") || a == "::1";
      });
  if (!problems.empty()) {
    return MakeCheck("ports.listen", "fail", Join(problems, "; "), evidence,
                     "Connection refused (guide's matrix): start the service (`mailfleet service "
                     "postfix start` / `dovecot start`), check inet_interfaces and Dovecot's "
                     "listen, and the firewall");
  }
  if (loopback_only) {
    return MakeCheck("ports.listen", "warn",
                     "port 25 listens on loopback only: no mail from other hosts", evidence,
                     "Set inet_interfaces = all (or the public address) and restart Postfix; "
                     "after an emergency reset: `mailfleet emergency restore`");
  }
  return MakeCheck(
      "ports.listen", "ok",
      seen.empty() ? "no mail port expected" : fmt::format("listening: {}", Join(seen, "; ")),
      evidence, "");
}

CheckResult JudgeFirewall(std::string_view ruleset, std::string_view source) {
  std::vector<std::string> blocking;
  for (std::string_view line : SplitLines(ruleset)) {
    std::string l = absl::AsciiStrToLower(Trim(line));
    bool drops = l.find("drop") != std::string::npos || l.find("reject") != std::string::npos;
    if (!drops || l.find("dport") == std::string::npos) continue;
    // "dport 25", "dport { 25, 587 }", "--dport 25", "dports 25,587", ranges 20-30 / 20:30.
    bool hit = false;
    for (size_t at = l.find("dport"); at != std::string::npos && !hit;
         at = l.find("dport", at + 5)) {
      size_t i = at + 5;
      if (i < l.size() && l[i] == 's') ++i;
      std::string spec;
      while (i < l.size() &&
             std::string_view("0123456789 ,{}-:").find(l[i]) != std::string_view::npos) {
        spec += l[i++];
      }
      for (const std::string& item : Fields(spec, " ,{}")) {
        size_t dash = item.find_first_of("-:");
        int low = std::atoi(item.c_str());
        int high = dash == std::string::npos ? low : std::atoi(item.c_str() + dash + 1);
        for (int port : kMailPorts) hit = hit || (port >= low && port <= high);
      }
    }
    if (hit) blocking.push_back(Trim(line));
  }
  if (blocking.empty()) {
    return MakeCheck(
        "firewall.mail_ports", "ok", "no rule drops or rejects a mail port",
        fmt::format("{}: {} lines read", source, std::count(ruleset.begin(), ruleset.end(), '\n')),
        "");
  }
  return MakeCheck("firewall.mail_ports", "fail",
                   fmt::format("{} firewall rule(s) drop or reject mail ports", blocking.size()),
                   fmt::format("{}: {}", source, Excerpt(Join(blocking, " | "), 600)),
                   "Firewall blocking SMTP (guide's matrix): allow the port (e.g. nft delete "
                   "the rule, or firewall-cmd --add-port=25/tcp), reload the firewall, then "
                   "check `nc -vz HOST 25` from a peer");
}

CheckResult JudgePostfixCheck(const RunResult& check, std::string_view parameters) {
  std::string output = Trim(check.err + check.out);
  std::string evidence =
      fmt::format("postfix check: {}; {}", output.empty() ? "no output" : Excerpt(output, 400),
                  Excerpt(parameters, 800));
  if (!check.ok()) {
    return MakeCheck("config.postfix", "fail",
                     fmt::format("postfix check failed ({})", check.Describe()), evidence,
                     "Fix what `postfix check` names in main.cf/master.cf, then `mailfleet service "
                     "postfix reload`; `mailfleet config diff` shows what changed");
  }
  if (output.find("warning") != std::string::npos) {
    return MakeCheck("config.postfix", "warn", "postfix check prints warnings", evidence,
                     "Read the warnings of `postfix check` and fix main.cf/master.cf");
  }
  return MakeCheck("config.postfix", "ok", "postfix check is clean", evidence, "");
}

std::pair<std::string, int> ParseNextHop(std::string_view hop) {
  std::string h(hop);
  int port = 25;
  if (h.starts_with("[")) {
    size_t close = h.find(']');
    std::string host = h.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < h.size() && h[close + 1] == ':') {
      port = std::atoi(h.c_str() + close + 2);
    }
    return {host, port > 0 ? port : 25};
  }
  size_t colon = h.rfind(':');
  if (colon != std::string::npos && h.find(':') == colon) {
    port = std::atoi(h.c_str() + colon + 1);
    h = h.substr(0, colon);
  }
  return {h, port > 0 ? port : 25};
}

std::vector<std::pair<std::string, int>> TransportNextHops(std::string_view text) {
  std::vector<std::pair<std::string, int>> out;
  for (std::string_view line : SplitLines(text)) {
    std::string l = Trim(line);
    if (l.empty() || l[0] == '#') continue;
    std::vector<std::string> f = Fields(l, " \t");
    if (f.size() < 2) continue;
    size_t colon = f[1].find(':');
    std::string transport = f[1].substr(0, colon);
    if (colon == std::string::npos || colon + 1 >= f[1].size()) continue;
    if (transport != "smtp" && transport != "relay" && transport != "lmtp") continue;
    std::string hop = f[1].substr(colon + 1);
    if (hop.starts_with("unix:") || hop.starts_with("inet:")) {
      if (!hop.starts_with("inet:")) continue;
      hop = hop.substr(5);
    }
    auto parsed = ParseNextHop(hop);
    if (parsed.first.empty()) continue;
    if (std::find(out.begin(), out.end(), parsed) == out.end()) out.push_back(parsed);
  }
  return out;
}

void RunChecks(ProcessRunner& runner, const Clock& clock, const DiagnoseOptions& o,
               mailfleet::v1::ActionResult* result) {
  auto want = [&](std::string_view id) { return Selected(o.selected, id); };
  auto add = [&](CheckResult c) { *result->add_checks() = std::move(c); };
  auto run = [&](std::vector<std::string> argv) {
    auto r = runner.Run({.argv = std::move(argv), .timeout = std::chrono::seconds(10)});
    if (r.ok()) return *r;
    RunResult failed;
    failed.exit_code = 127;
    failed.err = std::string(r.status().message());
    return failed;
  };
  auto postfix = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"postconf", "-c", o.postfix_config_dir};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  };
  // The parameters every check may need, read once.
  std::map<std::string, std::string> pf;
  RunResult params =
      run(postfix({"-x", "queue_directory", "inet_interfaces", "myhostname", "mydomain",
                   "mydestination", "mynetworks", "relayhost", "relay_domains", "transport_maps",
                   "smtp_bind_address", "virtual_mailbox_domains", "config_directory"}));
  if (auto parsed = actions::ParsePostconfN(params.out); parsed.ok()) {
    for (auto& [k, v] : *parsed) pf[k] = v;
  }
  auto dove = [&](const char* name) {
    return Trim(run({"doveconf", "-c", o.dovecot_config, "-h", name}).out);
  };
  const std::string pf_cmd = fmt::format("postfix -c {}", o.postfix_config_dir);

  if (want("service.postfix")) {
    RunResult status = run({"postfix", "-c", o.postfix_config_dir, "status"});
    auto pid = ReadFile(pf["queue_directory"] + "/pid/master.pid", 4096);
    std::string pid_text = pid.ok() ? Trim(*pid) : "";
    bool alive = !pid_text.empty() && access(fmt::format("/proc/{}", pid_text).c_str(), F_OK) == 0;
    std::string evidence = fmt::format(
        "{} status: {}; master.pid {}", pf_cmd, Excerpt(Trim(status.err + status.out), 300),
        pid_text.empty() ? "absent" : pid_text + (alive ? " (alive)" : " (no such process)"));
    add(status.ok() && alive
            ? MakeCheck("service.postfix", "ok",
                        fmt::format("Postfix runs (master pid {})", pid_text), evidence, "")
            : MakeCheck("service.postfix", "fail", "Postfix is not running", evidence,
                        "Start Postfix: `mailfleet service postfix start` (postfix start); if it "
                        "does not stay up, `postfix check` and the mail log say why"));
  }
  if (want("service.dovecot")) {
    std::string base = dove("base_dir");
    auto pid = ReadFile(base + "/master.pid", 4096);
    std::string pid_text = pid.ok() ? Trim(*pid) : "";
    bool alive = !pid_text.empty() && access(fmt::format("/proc/{}", pid_text).c_str(), F_OK) == 0;
    std::string evidence = fmt::format(
        "doveconf -h base_dir: {}; master.pid {}", base,
        pid_text.empty() ? "absent" : pid_text + (alive ? " (alive)" : " (no such process)"));
    add(alive ? MakeCheck("service.dovecot", "ok",
                          fmt::format("Dovecot runs (master pid {})", pid_text), evidence, "")
              : MakeCheck("service.dovecot", "fail", "Dovecot is not running", evidence,
                          "Start Dovecot: `mailfleet service dovecot start`; if it stops again, "
                          "`doveconf -n` and Dovecot's log say why"));
  }
  if (want("queue.size") || want("queue.age")) {
    // A stuck queue is exactly when the listing is long: read up to 256 MiB of it.
    auto listed = runner.Run({.argv = {"postqueue", "-c", o.postfix_config_dir, "-j"},
                              .timeout = std::chrono::seconds(30),
                              .output_cap = size_t{256} << 20});
    RunResult q;
    if (listed.ok()) {
      q = *std::move(listed);
    } else {
      q.exit_code = 127;
      q.err = std::string(listed.status().message());
    }
    if (q.truncated) {
      // More than the cap holds is a queue far past any threshold.
      q.out = q.out.substr(0, q.out.rfind('\n') + 1);
    }
    auto messages = q.ok() ? ParsePostqueueJson(q.out)
                           : absl::StatusOr<std::vector<mailfleet::v1::QueueMessage>>(
                                 absl::UnavailableError(q.Describe()));
    int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
    for (auto& c : messages.ok()
                       ? JudgeQueue(*messages, now, o)
                       : std::vector<CheckResult>{
                             MakeCheck("queue.size", "unknown", "the queue could not be listed",
                                       std::string(messages.status().message()),
                                       "Check that Postfix runs (`postqueue -j` needs it)"),
                             MakeCheck("queue.age", "unknown", "the queue could not be listed",
                                       std::string(messages.status().message()), "")}) {
      if (want(c.id())) add(std::move(c));
    }
  }
  if (want("ports.listen")) {
    std::vector<Listener> listeners;
    for (auto [path, v6] : {std::pair{"/proc/net/tcp", false}, std::pair{"/proc/net/tcp6", true}}) {
      auto text = ReadFile(path);
      if (text.ok()) {
        auto l = ParseProcNetTcp(*text, v6);
        listeners.insert(listeners.end(), l.begin(), l.end());
      }
    }
    auto master = ReadFile(o.postfix_config_dir + "/master.cf", 1 << 20);
    add(JudgePorts(listeners, pf["inet_interfaces"], master.ok() ? *master : "",
                   dove("protocols")));
  }
  // DNS first answers whether names can be looked up at all; later checks say unknown if not.
  bool dns_works = true;
  if (want("dns.resolvers")) {
    auto conf = ReadFile("/etc/resolv.conf", 1 << 16);
    std::vector<std::string> servers, answering, silent;
    if (conf.ok()) {
      for (std::string_view line : SplitLines(*conf)) {
        std::vector<std::string> f = Fields(line, " \t");
        if (f.size() >= 2 && f[0] == "nameserver") servers.push_back(f[1]);
      }
    }
    std::string probe = pf["myhostname"].empty() ? "localhost" : pf["myhostname"];
    for (const auto& s : servers) {
      DnsAnswer a = Query(probe, ns_t_a, s);
      (a.outcome == DnsOutcome::kTimeout ? silent : answering).push_back(s);
    }
    std::string evidence = fmt::format("/etc/resolv.conf nameservers: {}; asked each for {} A",
                                       servers.empty() ? "none" : Join(servers), probe);
    if (servers.empty()) {
      add(MakeCheck(
          "dns.resolvers", "fail", "no nameserver in /etc/resolv.conf", evidence,
          "DNS resolution issues (guide's matrix): add a working nameserver to /etc/resolv.conf"));
      dns_works = false;
    } else if (answering.empty()) {
      add(MakeCheck("dns.resolvers", "fail", fmt::format("no resolver answers ({})", Join(silent)),
                    evidence,
                    "DNS resolution issues (guide's matrix): check /etc/resolv.conf and that the "
                    "DNS server runs and is reachable (`dig @SERVER NAME`)"));
      dns_works = false;
    } else if (!silent.empty()) {
      add(MakeCheck("dns.resolvers", "warn",
                    fmt::format("{} of {} resolvers do not answer: {}", silent.size(),
                                servers.size(), Join(silent)),
                    evidence, "Remove or fix the silent nameservers in /etc/resolv.conf"));
    } else {
      add(MakeCheck("dns.resolvers", "ok",
                    fmt::format("every resolver answers ({})", Join(answering)), evidence, ""));
    }
  }
  auto dns_unknown = [&](const char* id) {
    add(MakeCheck(id, "unknown", "not looked up: no resolver answers", "see dns.resolvers",
                  "Fix the resolvers first (dns.resolvers)"));
  };
  auto hosts_override = [&](const std::string& name) -> std::string {
    auto hosts = ReadFile("/etc/hosts", 1 << 20);
    if (!hosts.ok()) return "";
    for (std::string_view line : SplitLines(*hosts)) {
      std::vector<std::string> f = Fields(line, " \t");
      if (f.size() >= 2 && f[0][0] != '#' && std::find(f.begin() + 1, f.end(), name) != f.end()) {
        return fmt::format("; /etc/hosts overrides it: {}", Trim(line));
      }
    }
    return "";
  };
  if (want("dns.forward")) {
    const std::string& name = pf["myhostname"];
    if (!dns_works) {
      dns_unknown("dns.forward");
    } else {
      DnsAnswer a = Query(name, ns_t_a);
      std::string evidence = fmt::format(
          "A {}: {}{}", name, a.records.empty() ? "none" : Join(a.records), hosts_override(name));
      add(a.outcome == DnsOutcome::kAnswer
              ? MakeCheck("dns.forward", "ok", fmt::format("myhostname {} resolves", name),
                          evidence, "")
          : a.outcome == DnsOutcome::kTimeout
              ? MakeCheck("dns.forward", "unknown", fmt::format("the lookup of {} timed out", name),
                          evidence, "Check the resolvers")
              : MakeCheck("dns.forward", "fail",
                          fmt::format("myhostname {} does not resolve", name), evidence,
                          "DNS resolution issues (guide's matrix): add an A record for myhostname "
                          "(or an /etc/hosts entry), or set myhostname to a name that resolves"));
    }
  }
  if (want("dns.mx")) {
    std::vector<std::string> domains;
    for (const char* p : {"mydestination", "virtual_mailbox_domains", "relay_domains"}) {
      for (const std::string& d : Fields(pf[p], ", \t")) {
        if (d.find('$') != std::string::npos || d.find(':') != std::string::npos ||
            d.find('/') != std::string::npos || d == "localhost" || d.starts_with("localhost.") ||
            d.find('.') == std::string::npos) {
          continue;
        }
        if (std::find(domains.begin(), domains.end(), d) == domains.end()) domains.push_back(d);
      }
    }
    if (domains.empty() && !pf["mydomain"].empty()) domains.push_back(pf["mydomain"]);
    if (!dns_works) {
      dns_unknown("dns.mx");
    } else {
      std::vector<std::string> seen, missing, unknown;
      for (const auto& d : domains) {
        DnsAnswer mx = Query(d, ns_t_mx);
        if (mx.outcome == DnsOutcome::kAnswer) {
          seen.push_back(fmt::format("{} MX {}", d, Join(mx.records, " ")));
        } else if (mx.outcome == DnsOutcome::kTimeout) {
          unknown.push_back(d);
        } else if (Query(d, ns_t_a).outcome == DnsOutcome::kAnswer) {
          seen.push_back(fmt::format("{} (no MX; its A record receives)", d));
        } else {
          missing.push_back(d);
        }
      }
      std::string evidence =
          seen.empty() && missing.empty() && unknown.empty()
              ? "no mail domain configured"
              : Join(seen, "; ") +
                    (missing.empty() ? "" : fmt::format("; no MX or A: {}", Join(missing))) +
                    (unknown.empty() ? "" : fmt::format("; timed out: {}", Join(unknown)));
      add(!missing.empty()
              ? MakeCheck("dns.mx", "fail", fmt::format("no MX or address for {}", Join(missing)),
                          evidence,
                          "DNS resolution issues (guide's matrix): publish an MX record "
                          "for each mail domain")
          : !unknown.empty()
              ? MakeCheck("dns.mx", "unknown",
                          fmt::format("MX lookups timed out: {}", Join(unknown)), evidence,
                          "Check the resolvers")
              : MakeCheck("dns.mx", "ok", fmt::format("{} mail domain(s) have MX", seen.size()),
                          evidence, ""));
    }
  }
  if (want("dns.ptr")) {
    if (!dns_works) {
      dns_unknown("dns.ptr");
    } else {
      std::vector<std::string> good, bad, unknown;
      for (const auto& addr : LocalAddresses(false)) {
        DnsAnswer ptr = Query(ReverseName(addr), ns_t_ptr);
        if (ptr.outcome == DnsOutcome::kTimeout) {
          unknown.push_back(addr);
          continue;
        }
        if (ptr.outcome != DnsOutcome::kAnswer) {
          bad.push_back(fmt::format("{} has no PTR", addr));
          continue;
        }
        std::string name = ptr.records[0];
        DnsAnswer fwd = Query(name, addr.find(':') == std::string::npos ? ns_t_a : ns_t_aaaa);
        if (std::find(fwd.records.begin(), fwd.records.end(), addr) != fwd.records.end()) {
          good.push_back(fmt::format("{} -> {} -> {}", addr, name, addr));
        } else {
          bad.push_back(fmt::format("{} -> {}, which does not resolve back", addr, name));
        }
      }
      std::string evidence =
          Join(good, "; ") + (bad.empty() ? "" : (good.empty() ? "" : "; ") + Join(bad, "; "));
      add(!bad.empty()       ? MakeCheck("dns.ptr", "warn", Join(bad, "; "), evidence,
                                         "Ask the address's owner for a PTR naming myhostname, with a "
                                               "matching A record: receivers distrust mail without one")
          : !unknown.empty() ? MakeCheck("dns.ptr", "unknown",
                                         fmt::format("PTR lookups timed out: {}", Join(unknown)),
                                         evidence, "Check the resolvers")
                             : MakeCheck("dns.ptr", "ok",
                                         good.empty() ? "no non-loopback address"
                                                      : "every address has a forward-confirmed PTR",
                                         evidence, ""));
    }
  }
  if (want("smtp.local")) {
    std::vector<std::string> own = LocalAddresses(false);
    std::string iface = pf["inet_interfaces"];
    // Where Postfix promises to listen: a named inet_interfaces address, else this host's
    // first address (all), else loopback.
    std::string target =
        iface == "loopback-only" || iface == "localhost" || own.empty() ? "127.0.0.1" : own[0];
    for (const std::string& a : Fields(iface, ", \t")) {
      if (a == "all" || a == "loopback-only" || a.find('$') != std::string::npos) continue;
      auto resolved = Resolve(a);
      if (!resolved.empty()) {
        target = resolved[0];
        break;
      }
    }
    SmtpProbe p =
        ProbeSmtp(target, target, 25, "mailfleet-diagnose." + o.agent_name, o.probe_timeout);
    std::string evidence =
        p.error.empty()
            ? fmt::format("{}: connect {} ms, banner {} ms \"{}\", EHLO {} ms, STARTTLS {}",
                          p.target, p.connect_ms, p.banner_ms, Excerpt(p.banner, 120), p.ehlo_ms,
                          p.starttls ? "offered" : "not offered")
            : fmt::format("{}: {}", p.target, p.error);
    add(p.error.empty()
            ? MakeCheck("smtp.local", "ok", fmt::format("SMTP answers on {}", p.target), evidence,
                        "")
            : MakeCheck("smtp.local", "fail",
                        fmt::format("SMTP on {} fails: {}", p.target, p.error), evidence,
                        "Connection refused (guide's matrix): start Postfix, check "
                        "inet_interfaces and the firewall"));
  }
  if (want("smtp.relay")) {
    std::vector<std::pair<std::string, int>> hops;
    if (!pf["relayhost"].empty()) hops.push_back(ParseNextHop(pf["relayhost"]));
    for (const std::string& map : Fields(pf["transport_maps"], ", \t")) {
      size_t colon = map.find(':');
      std::string type = colon == std::string::npos ? "" : map.substr(0, colon);
      std::string path = colon == std::string::npos ? map : map.substr(colon + 1);
      if (type != "hash" && type != "texthash" && type != "lmdb" && type != "btree" &&
          type != "cdb")
        continue;
      auto text = ReadFile(path, 4 << 20);
      if (!text.ok()) continue;
      for (auto& h : TransportNextHops(*text)) {
        if (std::find(hops.begin(), hops.end(), h) == hops.end()) hops.push_back(h);
      }
    }
    std::vector<std::string> ok, bad;
    for (const auto& [host, port] : hops) {
      auto addrs = Resolve(host);
      if (addrs.empty()) {
        bad.push_back(fmt::format("{}:{}: does not resolve", host, port));
        continue;
      }
      SmtpProbe p =
          ProbeSmtp(host, addrs[0], port, "mailfleet-diagnose." + o.agent_name, o.probe_timeout);
      if (p.error.empty()) {
        ok.push_back(fmt::format("{} {} ms, STARTTLS {}", p.target,
                                 p.connect_ms + p.banner_ms + p.ehlo_ms,
                                 p.starttls ? "offered" : "not offered"));
      } else {
        bad.push_back(fmt::format("{}: {}", p.target, p.error));
      }
    }
    std::string evidence =
        hops.empty()
            ? "relayhost empty, no transport next hops"
            : Join(ok, "; ") + (bad.empty() ? "" : (ok.empty() ? "" : "; ") + Join(bad, "; "));
    add(hops.empty()
            ? MakeCheck("smtp.relay", "ok",
                        "no relayhost or transport next hop: mail goes out by MX", evidence, "")
        : bad.empty()
            ? MakeCheck("smtp.relay", "ok", fmt::format("every next hop answers ({})", hops.size()),
                        evidence, "")
            : MakeCheck("smtp.relay", "fail",
                        fmt::format("next hop unreachable: {}", Join(bad, "; ")), evidence,
                        "Mail queue stuck (guide's matrix): check the relayhost setting and "
                        "transport_maps, DNS for the next hop, and the firewall on the way; "
                        "then `mailfleet flush`"));
  }
  if (want("net.routes")) {
    std::vector<std::string> own = LocalAddresses(true);
    auto route = ReadFile("/proc/net/route", 1 << 20);
    bool default_route = false;
    if (route.ok()) {
      for (std::string_view line : SplitLines(*route)) {
        std::vector<std::string> f = Fields(line, "\t");
        if (f.size() > 2 && f[1] == "00000000" && f[0] != "Iface") default_route = true;
      }
    }
    std::vector<std::string> missing;
    for (const char* p : {"smtp_bind_address", "inet_interfaces"}) {
      for (const std::string& a : Fields(pf[p], ", \t")) {
        if (a == "all" || a == "loopback-only" || a == "localhost" ||
            a.find('$') != std::string::npos)
          continue;
        auto resolved = Resolve(a);
        bool local = std::any_of(resolved.begin(), resolved.end(), [&](const std::string& r) {
          return std::find(own.begin(), own.end(), r) != own.end();
        });
        if (!local) missing.push_back(fmt::format("{} = {} is not an address of this host", p, a));
      }
    }
    std::string evidence = fmt::format("addresses: {}; default route: {}", Join(own, " "),
                                       default_route ? "yes" : "none");
    add(missing.empty()
            ? MakeCheck("net.routes", "ok",
                        fmt::format("{} addresses{}", own.size(),
                                    default_route ? "" : ", no default route"),
                        evidence, "")
            : MakeCheck("net.routes", "fail", Join(missing, "; "), evidence,
                        "Wrong IP / multi-NIC routing (guide's matrix): set inet_interfaces "
                        "and smtp_bind_address to this host's addresses; check /etc/hosts "
                        "and the routing table"));
  }
  if (want("firewall.mail_ports")) {
    RunResult nft = run({"nft", "list", "ruleset"});
    if (nft.ok()) {
      add(JudgeFirewall(nft.out, "nft list ruleset"));
    } else {
      RunResult ipt = run({"iptables-save"});
      add(ipt.ok()
              ? JudgeFirewall(ipt.out, "iptables-save")
              : MakeCheck("firewall.mail_ports", "unknown", "no firewall tool could list the rules",
                          fmt::format("nft: {}; iptables-save: {}", nft.Describe(), ipt.Describe()),
                          ""));
    }
  }
  if (want("auth.dovecot")) {
    if (o.auth_probe_user.empty()) {
      add(MakeCheck("auth.dovecot", "unknown", "no probe credentials on this agent",
                    "diagnose.auth_probe_file is not set",
                    "Give the agent a test account (--auth-probe-file)"));
    } else {
      RunResult t = run({"doveadm", "-c", o.dovecot_config, "auth", "test", o.auth_probe_user,
                         o.auth_probe_password});
      std::string evidence = fmt::format("doveadm auth test {} ***: {}", o.auth_probe_user,
                                         Excerpt(Trim(t.out + t.err), 300));
      add(t.ok() ? MakeCheck("auth.dovecot", "ok",
                             fmt::format("the probe user {} authenticates", o.auth_probe_user),
                             evidence, "")
                 : MakeCheck("auth.dovecot", "fail",
                             fmt::format("the probe user {} cannot log in", o.auth_probe_user),
                             evidence,
                             "Authentication failures (guide's matrix): check the passdb (password "
                             "file, PAM), reset the password, verify auth_mechanisms; `mailfleet "
                             "auth cache-flush` after a fix"));
    }
  }
  std::string mail_store;  // the folder holding the users' homes, for resources.disk
  if (want("mailbox.maildir")) {
    std::string location = dove("mail_location");
    std::vector<std::string> users = o.maildir_users;
    if (users.empty()) {
      RunResult list = run({"doveadm", "-c", o.dovecot_config, "user", "*"});
      for (const std::string& u : Fields(list.out, "\n")) {
        if (users.size() < 20) users.push_back(Trim(u));
      }
    }
    std::vector<std::string> good, bad, fresh, unresolved;
    if (!location.starts_with("maildir:")) {
      add(MakeCheck("mailbox.maildir", "ok", "mail_location is not a Maildir",
                    "mail_location = " + location, ""));
    } else {
      std::string pattern = location.substr(8, location.find(':', 8) == std::string::npos
                                                   ? std::string::npos
                                                   : location.find(':', 8) - 8);
      for (const auto& u : users) {
        if (u.empty() || !actions::ValidateAddressOrDomain(
                              "user", u.find('@') == std::string::npos ? u + "@x.y" : u)
                              .ok())
          continue;
        RunResult info = run({"doveadm", "-c", o.dovecot_config, "user", "-f", "home", u});
        RunResult uid_run = run({"doveadm", "-c", o.dovecot_config, "user", "-f", "uid", u});
        std::string home = Trim(info.out);
        if (mail_store.empty() && !home.empty()) mail_store = home.substr(0, home.rfind('/'));
        std::string path = pattern;
        if (path.starts_with("~")) path = home + path.substr(1);
        size_t at_sign = u.find('@');
        std::string local = u.substr(0, at_sign);
        std::string domain = at_sign == std::string::npos ? "" : u.substr(at_sign + 1);
        for (auto [from, to] :
             {std::pair{"%Lu", absl::AsciiStrToLower(u)},
              std::pair{"%Ln", absl::AsciiStrToLower(local)},
              std::pair{"%Ld", absl::AsciiStrToLower(domain)}, std::pair{"%u", u},
              std::pair{"%n", local}, std::pair{"%d", domain}, std::pair{"%h", home}}) {
          for (size_t at; (at = path.find(from)) != std::string::npos;)
            path.replace(at, std::strlen(from), to);
        }
        if (path.find('%') != std::string::npos) {
          unresolved.push_back(fmt::format("{} ({})", u, path));
          continue;
        }
        struct stat st;
        if (stat(path.c_str(), &st) != 0) {
          fresh.push_back(u);  // created at the first delivery
          continue;
        }
        std::vector<std::string> wrong;
        if ((st.st_mode & 0777) != 0700)
          wrong.push_back(fmt::format("mode {:04o}, not 0700", st.st_mode & 0777));
        int64_t uid = -1;
        if (!Trim(uid_run.out).empty()) uid = std::atoll(Trim(uid_run.out).c_str());
        if (uid >= 0 && static_cast<int64_t>(st.st_uid) != uid)
          wrong.push_back(fmt::format("owner uid {} (user's uid {})", st.st_uid, uid));
        for (const char* sub : {"new", "cur", "tmp"}) {
          struct stat s2;
          if (stat(fmt::format("{}/{}", path, sub).c_str(), &s2) != 0)
            wrong.push_back(fmt::format("no {}/", sub));
        }
        (wrong.empty() ? good : bad)
            .push_back(wrong.empty() ? fmt::format("{} {}", u, path)
                                     : fmt::format("{} {}: {}", u, path, Join(wrong)));
      }
      std::string evidence =
          fmt::format("mail_location = {}; {}{}{}", location, Join(good, "; "),
                      bad.empty() ? "" : "; " + Join(bad, "; "),
                      fresh.empty() ? "" : fmt::format("; not created yet: {}", Join(fresh)));
      if (bad.empty() && good.empty() && !unresolved.empty()) {
        add(MakeCheck("mailbox.maildir", "unknown",
                      fmt::format("mail_location has variables this check does not expand: {}",
                                  Join(unresolved)),
                      evidence, "List the users to check with diagnose.maildir_users"));
      } else if (bad.empty()) {
        add(MakeCheck("mailbox.maildir", "ok", fmt::format("{} Maildir(s) in order", good.size()),
                      evidence, ""));
      } else {
        add(MakeCheck("mailbox.maildir", "fail", Join(bad, "; "), evidence,
                      "Permission denied (guide's matrix): fix ownership with chown USER:GROUP "
                      "and permissions with chmod 700 on the Maildir; create new/ cur/ tmp/ if "
                      "missing"));
      }
    }
  }
  if (want("config.postfix")) {
    RunResult check = run({"postfix", "-c", o.postfix_config_dir, "check"});
    std::string text = Trim(params.out);
    CheckResult c = JudgePostfixCheck(check, text);
    // A relayhost name that does not resolve sends everything into the deferred queue.
    auto relay = ParseNextHop(pf["relayhost"]);
    if (c.status() != "fail" && !pf["relayhost"].empty() && dns_works &&
        Resolve(relay.first).empty()) {
      c = MakeCheck(
          "config.postfix", "fail", fmt::format("relayhost {} does not resolve", relay.first),
          c.evidence(),
          "Mail queue stuck (guide's matrix): correct relayhost (postconf -e relayhost=...) "
          "or its DNS, reload, then `mailfleet flush`");
    }
    add(std::move(c));
  }
  if (want("config.dovecot")) {
    RunResult n = run({"doveconf", "-c", o.dovecot_config, "-n"});
    std::string evidence =
        fmt::format("doveconf -n: {}; mail_location = {}; auth_mechanisms = {}",
                    n.ok() ? fmt::format("{} lines", std::count(n.out.begin(), n.out.end(), '\n'))
                           : n.Describe(),
                    dove("mail_location"), dove("auth_mechanisms"));
    add(n.ok()
            ? MakeCheck("config.dovecot", "ok", "doveconf -n reads the configuration", evidence, "")
            : MakeCheck("config.dovecot", "fail", "doveconf cannot read the configuration",
                        evidence,
                        "Fix what doveconf names in dovecot.conf, then `mailfleet service dovecot "
                        "reload`"));
  }
  if (want("resources.disk")) {
    std::vector<std::string> parts, low, very_low;
    if (mail_store.empty()) {
      // Not found by mailbox.maildir: the first user's home, via the userdb.
      RunResult list = run({"doveadm", "-c", o.dovecot_config, "user", "*"});
      auto users = Fields(list.out, "\n");
      if (!users.empty()) {
        std::string home = Trim(
            run({"doveadm", "-c", o.dovecot_config, "user", "-f", "home", Trim(users[0])}).out);
        if (!home.empty()) mail_store = home.substr(0, home.rfind('/'));
      }
    }
    std::vector<std::string> paths = {pf["queue_directory"]};
    if (!mail_store.empty() && mail_store != pf["queue_directory"]) paths.push_back(mail_store);
    for (const auto& p : paths) {
      struct statvfs v;
      if (p.empty() || statvfs(p.c_str(), &v) != 0) continue;
      double space = v.f_blocks
                         ? 100.0 * static_cast<double>(v.f_bavail) / static_cast<double>(v.f_blocks)
                         : 100;
      double inodes = v.f_files
                          ? 100.0 * static_cast<double>(v.f_favail) / static_cast<double>(v.f_files)
                          : 100;
      std::string line = fmt::format("{}: {:.0f}% space, {:.0f}% inodes free", p, space, inodes);
      parts.push_back(line);
      if (std::min(space, inodes) < 3) {
        very_low.push_back(line);
      } else if (std::min(space, inodes) < 10) {
        low.push_back(line);
      }
    }
    std::string evidence = parts.empty() ? "statvfs: nothing measured" : Join(parts, "; ");
    add(!very_low.empty()
            ? MakeCheck("resources.disk", "fail", Join(very_low, "; "), evidence,
                        "Free space for the queue: remove old logs, move the spool, "
                        "or delete junk from the queue (`mailfleet delete --dry-run` first)")
        : !low.empty()
            ? MakeCheck("resources.disk", "warn", Join(low, "; "), evidence,
                        "Free space before the queue fills the disk")
            : MakeCheck("resources.disk", "ok",
                        parts.empty() ? "nothing to measure" : Join(parts, "; "), evidence, ""));
  }
  // Raw material for the collector's fleet checks.
  if (want("fleet.reachability")) {
    // All peers at once, 64 at a time: blackholed peers cost one probe timeout, not one each.
    constexpr size_t kParallel = 64;
    std::vector<std::pair<std::string, std::string>> peers;
    for (const auto& p : o.peers) {
      if (p.first != o.agent_name) peers.push_back(p);
    }
    std::vector<std::string> outcome(peers.size());
    for (size_t start = 0; start < peers.size(); start += kParallel) {
      std::vector<std::thread> probes;
      for (size_t i = start; i < std::min(peers.size(), start + kParallel); ++i) {
        probes.emplace_back([&, i] {
          Connection c;
          Connect(peers[i].second, 25, o.probe_timeout, &c);
          outcome[i] = c.error.empty() ? fmt::format("ok {} ms", c.connect_ms) : c.error;
        });
      }
      for (auto& t : probes) t.join();
    }
    for (size_t i = 0; i < peers.size(); ++i) {
      (*result->mutable_values())["reach." + peers[i].first] = outcome[i];
    }
  }
  if (want("fleet.config_drift")) {
    RunResult n = run(postfix({"-n"}));
    if (n.ok()) (*result->mutable_values())["postconf_n"] = parse::ToValidUtf8(n.out);
    RunResult d = run({"doveconf", "-c", o.dovecot_config, "-n"});
    if (d.ok()) (*result->mutable_values())["doveconf_n"] = parse::ToValidUtf8(d.out);
  }
}

}  // namespace mailfleet::agent
