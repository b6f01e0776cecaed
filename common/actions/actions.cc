#include "common/actions/actions.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/absl_fmt.h"
#include "common/text.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace mailfleet::actions {
namespace {

constexpr std::string_view kQueues[] = {"incoming", "active",  "deferred",
                                        "hold",     "corrupt", "maildrop"};
constexpr std::string_view kServiceOps[] = {"start", "stop", "reload", "restart"};

bool IsHexUpper(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }
bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// What a value may look like when shown back in an error: printable, short.
std::string Shown(std::string_view value) {
  std::string out;
  for (char c : value.substr(0, 60)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? fmt::format("\\x{:02x}", u) : std::string(1, c);
  }
  if (value.size() > 60) out += "...";
  return out;
}

bool FilterEmpty(const mailfleet::v1::QueueFilter& f) {
  return f.queues().empty() && f.from().empty() && f.to().empty() && f.older_than_seconds() == 0 &&
         f.younger_than_seconds() == 0 && f.reason().empty() && f.min_size() == 0 &&
         f.queue_ids().empty();
}

using ParamCheck = absl::Status (*)(std::string_view value);

absl::Status CheckYes(std::string_view value) {
  if (value == "yes") return absl::OkStatus();
  return absl::InvalidArgumentError(
      fmt::format("'{}' is not a valid value; the only one is 'yes'", Shown(value)));
}

absl::Status CheckServiceOp(std::string_view value) {
  if (std::find(std::begin(kServiceOps), std::end(kServiceOps), value) != std::end(kServiceOps)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(fmt::format("'{}' is not an operation; use one of {}",
                                                Shown(value), fmt::join(kServiceOps, ", ")));
}

absl::Status CheckDebugService(std::string_view value) {
  if (value == "postfix" || value == "dovecot" || value == "both") return absl::OkStatus();
  return absl::InvalidArgumentError(
      fmt::format("'{}' is not a debug target; use postfix, dovecot or both", Shown(value)));
}

absl::Status CheckNumber(std::string_view value, int64_t low, int64_t high) {
  int64_t n = 0;
  bool digits =
      !value.empty() && value.size() <= 9 &&
      std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    for (char c : value) n = n * 10 + (c - '0');
  }
  if (!digits || n < low || n > high) {
    return absl::InvalidArgumentError(
        fmt::format("'{}' is not a number from {} to {}", Shown(value), low, high));
  }
  return absl::OkStatus();
}

absl::Status CheckDiffPurpose(std::string_view value) {
  if (value == "diff") return absl::OkStatus();
  return absl::InvalidArgumentError(
      fmt::format("'{}' is not a snapshot purpose; the only one is 'diff'", Shown(value)));
}

// "service.,dns.mx": check ids or families (ending in '.'), comma-separated.
absl::Status CheckCheckList(std::string_view value) {
  bool ok =
      !value.empty() && value.size() <= 500 && std::all_of(value.begin(), value.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || c == '.' || c == '_' || c == ',';
      });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format(
      "'{}' is not a list of check ids (service.postfix,dns.) separated by commas", Shown(value)));
}

// "h1=198.18.0.11,h2=2001:db8::2": fleet peers to probe, name=address.
absl::Status CheckPeerAddresses(std::string_view value) {
  bool ok = value.size() <= 200000 && std::all_of(value.begin(), value.end(), [](char c) {
              return IsAlnum(c) || std::string_view(".-_=:,").find(c) != std::string_view::npos;
            });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      fmt::format("'{}' is not a list of name=address peers", Shown(value)));
}

absl::Status CheckCount(std::string_view value) { return CheckNumber(value, 1, 100000000); }

absl::Status CheckTtl(std::string_view value) { return CheckNumber(value, 1, 86400); }
absl::Status CheckLevel(std::string_view value) { return CheckNumber(value, 1, 9); }

// debug_peer_list entries: host names, addresses and networks, comma-separated.
absl::Status CheckPeers(std::string_view value) {
  if (value.empty() || value.size() > 1000) {
    return absl::InvalidArgumentError("the peer list is empty or longer than 1000 characters");
  }
  for (char c : value) {
    if (!IsAlnum(c) && std::string_view(".-:/,[]_").find(c) == std::string_view::npos) {
      return absl::InvalidArgumentError(
          fmt::format("'{}' is not a peer list: host names, addresses or networks (198.18.0.0/24), "
                      "comma-separated",
                      Shown(value)));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPostconfText(std::string_view value) {
  if (auto s = ValidatePostconfText(value); !s.ok()) return s;
  return absl::OkStatus();
}

struct Spec {
  ActionInfo info;
  Risk risk;
  std::map<std::string_view, ParamCheck> params;  // every parameter it takes
  std::vector<std::string_view> required;
  // Extra rules on the whole command; may raise the risk.
  absl::Status (*check)(const Params& params, const mailfleet::v1::QueueFilter& filter,
                        Risk* risk) = nullptr;
};

// Acting on the whole queue needs the explicit everything=yes, so an empty filter typed by
// mistake never hits every message.
absl::Status NeedsSelection(const Params& params, const mailfleet::v1::QueueFilter& filter, Risk*) {
  if (!FilterEmpty(filter) || params.contains("everything")) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "no filter selects any message; give a filter (--queue, --from, --to, --older-than, "
      "--reason, --id, ...) or ask for every message explicitly (--everything)");
}

absl::Status OneQueueId(const Params&, const mailfleet::v1::QueueFilter& filter, Risk*) {
  if (filter.queue_ids_size() == 1 && FilterEmpty([&] {
        auto f = filter;
        f.clear_queue_ids();
        return f;
      }())) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("queue.deliver takes exactly one queue id and no other filter");
}

absl::Status ServiceRisk(const Params& params, const mailfleet::v1::QueueFilter& filter,
                         Risk* risk) {
  if (!FilterEmpty(filter)) {
    return absl::InvalidArgumentError("service actions take no queue filter");
  }
  *risk = params.at("op") == "stop" ? Risk::kDestructive : Risk::kChange;
  return absl::OkStatus();
}

absl::Status NoFilter(const Params&, const mailfleet::v1::QueueFilter& filter, Risk*) {
  if (FilterEmpty(filter)) return absl::OkStatus();
  return absl::InvalidArgumentError("this action takes no queue filter");
}

const std::vector<Spec>& Specs() {
  static const auto* specs = new std::vector<Spec>{
      {{"queue.list", "list queued messages (postqueue -j), optionally filtered", true},
       Risk::kRead},
      {{"queue.flush", "attempt delivery now: postqueue -f, or postqueue -i for each match", true},
       Risk::kChange},
      {{"queue.deliver", "attempt delivery of one message now (postqueue -i)", true},
       Risk::kChange,
       {},
       {},
       OneQueueId},
      {{"queue.hold", "put the matching messages on hold (postsuper -h)", true},
       Risk::kChange,
       {{"everything", CheckYes}},
       {},
       NeedsSelection},
      {{"queue.release", "release the matching held messages (postsuper -H)", true},
       Risk::kChange,
       {{"everything", CheckYes}},
       {},
       NeedsSelection},
      {{"queue.requeue", "requeue the matching messages (postsuper -r)", true},
       Risk::kChange,
       {{"everything", CheckYes}},
       {},
       NeedsSelection},
      {{"queue.delete", "delete the matching messages (postsuper -d)", true},
       Risk::kDestructive,
       {{"everything", CheckYes}},
       {},
       NeedsSelection},
      {{"service.postfix", "start, stop, reload or restart Postfix", false},
       Risk::kChange,
       {{"op", CheckServiceOp}},
       {"op"},
       ServiceRisk},
      {{"service.dovecot", "start, stop, reload or restart Dovecot", false},
       Risk::kChange,
       {{"op", CheckServiceOp}},
       {"op"},
       ServiceRisk},
      {{"auth.cache_flush", "flush Dovecot's auth cache (doveadm auth cache flush)", false},
       Risk::kChange,
       {},
       {},
       NoFilter},
      {{"debug.on",
        "verbose logging for a while: Postfix debug_peer_list/debug_peer_level, Dovecot "
        "auth_debug/mail_debug; reverted by the agent when the ttl ends",
        false},
       Risk::kChange,
       {{"service", CheckDebugService},
        {"ttl", CheckTtl},
        {"peers", CheckPeers},
        {"level", CheckLevel}},
       {"ttl"},
       NoFilter},
      {{"debug.off", "end the verbose logging debug.on started", false},
       Risk::kChange,
       {{"service", CheckDebugService}},
       {},
       NoFilter},
      {{"diagnose",
        "the troubleshooting guide's checks on the host: services, queue, ports, SMTP, routes, "
        "firewall, DNS, auth, Maildirs, configuration, disk",
        false},
       Risk::kRead,
       {{"checks", CheckCheckList},
        {"peers", CheckPeerAddresses},
        {"queue_warn", CheckCount},
        {"queue_fail", CheckCount},
        {"age_warn", CheckCount},
        {"age_fail", CheckCount},
        {"log_window", CheckCount}},
       {},
       NoFilter},
      {{"config.snapshot", "postconf -n, master.cf and doveconf -n, kept by the collector", false},
       Risk::kRead,
       // purpose=diff: taken by `config diff` to compare, not a baseline for the next diff.
       {{"purpose", CheckDiffPurpose}},
       {},
       NoFilter},
      {{"config.restore",
        "set main.cf back to a snapshot's postconf -n (postconf -e / -X), check, reload", false},
       Risk::kDestructive,
       {{"postconf_n", CheckPostconfText}},
       {"postconf_n"},
       NoFilter},
      {{"emergency.reset",
        "the guide's minimal configuration: back up main.cf, inet_interfaces = loopback-only, "
        "mydestination = localhost, restart Postfix",
        false},
       Risk::kDestructive,
       {},
       {},
       NoFilter},
      {{"emergency.restore", "put main.cf back as it was before emergency.reset, restart Postfix",
        false},
       Risk::kDestructive,
       {},
       {},
       NoFilter},
  };
  return *specs;
}

}  // namespace

std::string_view RiskName(Risk risk) {
  switch (risk) {
    case Risk::kRead:
      return "read";
    case Risk::kChange:
      return "change";
    case Risk::kDestructive:
      return "destructive";
  }
  return "unknown";
}

absl::StatusOr<Risk> ParseRisk(std::string_view name) {
  for (Risk r : {Risk::kRead, Risk::kChange, Risk::kDestructive}) {
    if (RiskName(r) == name) return r;
  }
  return absl::InvalidArgumentError(
      fmt::format("'{}' is not a risk class; use read, change or destructive", Shown(name)));
}

const std::vector<ActionInfo>& Registry() {
  static const auto* infos = [] {
    auto* v = new std::vector<ActionInfo>;
    for (const Spec& s : Specs()) v->push_back(s.info);
    return v;
  }();
  return *infos;
}

absl::Status ValidateQueueId(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("an empty queue id");
  if (id == "ALL") {
    return absl::InvalidArgumentError(
        "'ALL' is not a queue id; to act on every message ask for it explicitly (--everything)");
  }
  bool short_form =
      id.size() >= 6 && id.size() <= 20 && std::all_of(id.begin(), id.end(), IsHexUpper);
  // Long ids (enable_long_queue_ids) are letters and digits with a 'z' between the time
  // and the inode parts.
  bool long_form = id.size() >= 12 && id.size() <= 24 &&
                   std::all_of(id.begin(), id.end(), IsAlnum) &&
                   id.find('z') != std::string_view::npos;
  if (short_form || long_form) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format(
      "'{}' is not a Postfix queue id (short ids are 6-20 hex digits like 3F1A2B4C5D, long ids "
      "letters and digits like 4ZbCZn4gyrzVnMg)",
      Shown(id)));
}

absl::Status ValidateAddressOrDomain(std::string_view what, std::string_view value) {
  if (value == "<>") return absl::OkStatus();
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        fmt::format("{} '{}' {}; give an address like alice@example.com, a domain like "
                    "example.com, or <> for the null sender",
                    what, Shown(value), why));
  };
  if (value.empty()) return bad("is empty");
  if (value.size() > 320) return bad("is too long");
  if (value.front() == '-') return bad("starts with '-'");
  size_t at = value.rfind('@');
  std::string_view local = at == std::string_view::npos ? "" : value.substr(0, at);
  std::string_view domain = at == std::string_view::npos ? value : value.substr(at + 1);
  for (char c : local) {
    if (!IsAlnum(c) && std::string_view("._%+-=!#&'*/?^`{|}~").find(c) == std::string_view::npos) {
      return bad(fmt::format("has '{}' in its local part", Shown(std::string_view(&c, 1))));
    }
  }
  if (at != std::string_view::npos && local.empty()) return bad("has nothing before '@'");
  if (domain.empty()) return bad("has no domain");
  for (char c : domain) {
    if (!IsAlnum(c) && c != '.' && c != '-' && c != '_') {
      return bad(fmt::format("has '{}' in its domain", Shown(std::string_view(&c, 1))));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParsePostconfN(
    std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  int line_number = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    if (line.empty()) continue;
    // "name = value", or "name =" for an empty value.
    size_t eq = line.find(" = ");
    if (eq == std::string_view::npos && line.ends_with(" =")) eq = line.size() - 2;
    std::string_view name = line.substr(0, eq);
    // Letters, digits, '_' and '-' (a transport's name may hold one), never a leading '-'.
    bool name_ok = eq != std::string_view::npos && !name.empty() && name.size() <= 100 &&
                   name.front() != '-' && std::all_of(name.begin(), name.end(), [](char c) {
                     return IsAlnum(c) || c == '_' || c == '-';
                   });
    bool value_ok = name_ok && std::all_of(line.begin(), line.end(), [](char c) {
                      return static_cast<unsigned char>(c) >= 0x20 || c == '\t';
                    });
    if (!name_ok || !value_ok) {
      return absl::InvalidArgumentError(fmt::format(
          "line {} of the postconf -n text is not 'name = value': {}", line_number, Shown(line)));
    }
    out.emplace_back(std::string(name),
                     eq + 3 <= line.size() ? std::string(line.substr(eq + 3)) : std::string());
  }
  return out;
}

absl::Status ValidatePostconfText(std::string_view text) {
  if (text.size() > 256 * 1024) {
    return absl::InvalidArgumentError("the postconf -n text is larger than 256 KiB");
  }
  auto parsed = ParsePostconfN(text);
  if (!parsed.ok()) return parsed.status();
  if (parsed->empty()) return absl::InvalidArgumentError("the postconf -n text sets nothing");
  return absl::OkStatus();
}

bool CheckSelected(const std::vector<std::string>& selected, std::string_view id) {
  if (selected.empty()) return true;
  for (const auto& s : selected) {
    if (s == id || (!s.empty() && s.back() == '.' && id.starts_with(s))) return true;
  }
  return false;
}

absl::Status ValidateQueueName(std::string_view name) {
  if (std::find(std::begin(kQueues), std::end(kQueues), name) != std::end(kQueues)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(fmt::format("'{}' is not a Postfix queue; use one of {}",
                                                Shown(name), fmt::join(kQueues, ", ")));
}

absl::StatusOr<Risk> ValidateCommand(std::string_view action, const Params& params,
                                     const mailfleet::v1::QueueFilter& filter) {
  const Spec* spec = nullptr;
  for (const Spec& s : Specs()) {
    if (s.info.name == action) spec = &s;
  }
  if (spec == nullptr) {
    std::vector<std::string_view> names;
    for (const Spec& s : Specs()) names.push_back(s.info.name);
    return absl::InvalidArgumentError(
        fmt::format("no action '{}'; the actions are {}", Shown(action), fmt::join(names, ", ")));
  }
  for (const auto& [key, value] : params) {
    auto it = spec->params.find(key);
    if (it == spec->params.end()) {
      return absl::InvalidArgumentError(
          fmt::format("{} takes no parameter '{}'", action, Shown(key)));
    }
    if (absl::Status s = it->second(value); !s.ok()) {
      return absl::InvalidArgumentError(fmt::format("{} {}: {}", action, key, s.message()));
    }
  }
  for (std::string_view key : spec->required) {
    if (!params.contains(std::string(key))) {
      return absl::InvalidArgumentError(fmt::format("{} needs the parameter '{}'", action, key));
    }
  }
  if (!spec->info.takes_filter && !FilterEmpty(filter)) {
    return absl::InvalidArgumentError(fmt::format("{} takes no queue filter", action));
  }
  for (const auto& q : filter.queues()) {
    if (auto s = ValidateQueueName(q); !s.ok()) return s;
  }
  for (const auto& id : filter.queue_ids()) {
    if (auto s = ValidateQueueId(id); !s.ok()) return s;
  }
  if (!filter.from().empty()) {
    if (auto s = ValidateAddressOrDomain("sender", filter.from()); !s.ok()) return s;
  }
  if (!filter.to().empty()) {
    if (auto s = ValidateAddressOrDomain("recipient", filter.to()); !s.ok()) return s;
  }
  if (filter.reason().size() > 200) {
    return absl::InvalidArgumentError("the --reason text is longer than 200 characters");
  }
  if (filter.older_than_seconds() > 0 && filter.younger_than_seconds() > 0 &&
      filter.younger_than_seconds() <= filter.older_than_seconds()) {
    return absl::InvalidArgumentError(
        "--older-than and --younger-than leave no age between them; the younger-than age must "
        "be the larger");
  }
  Risk risk = spec->risk;
  if (spec->check != nullptr) {
    if (auto s = spec->check(params, filter, &risk); !s.ok()) return s;
  }
  return risk;
}

}  // namespace mailfleet::actions
