// Checks the mail log parser against real log corpora written by other projects (see
// ../shared/corpora/README.md). The corpora folder is found through MAILFLEET_CORPORA, which
// tests/run.sh sets; without it every test here fails (copyleft data is never copied in).
//
//   1. postfix-grok-patterns: 191 grok cases, each a Postfix payload with expected fields.
//   2. crowdsec-hub: parser.assert expectations for the lines of each .tests/*/ log.
//   3. Datadog integrations-core: 6 lines with expected attributes.
//   4. Every raw log line of every corpus: parses, and under 1% of the Postfix/Dovecot lines
//      stay kOther (the report prints the most frequent shapes of those that do).
//   5. lightmeter's two-host relay: queued_as and message-id link the two servers' logs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/parse/log_event.h"
#include "common/parse/parser.h"
#include "gtest/gtest.h"
#include "tests/unit/corpus_cases.h"

namespace mailfleet::parse {
namespace {

namespace fs = std::filesystem;
using corpus::EndsWith;
using corpus::StartsWith;
using Fields = std::vector<std::pair<std::string, std::string>>;

// ----------------------------------------------------------------------------------------
// LogEvent fields by name, and expectations on them.

enum class Compare { kText, kInteger, kNumber };

struct FieldAccessor {
  Compare compare;
  std::function<std::string(const LogEvent&)> get;
};

FieldAccessor Text(Span LogEvent::*span) {
  return {Compare::kText, [span](const LogEvent& e) { return std::string(e.Get(e.*span)); }};
}
template <typename T>
FieldAccessor Integer(T LogFields::*member) {
  return {Compare::kInteger, [member](const LogEvent& e) { return std::to_string(e.*member); }};
}
std::string FormatNumber(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}
FieldAccessor Delays(int i) {
  return {Compare::kNumber, [i](const LogEvent& e) { return FormatNumber(e.delays[i]); }};
}

const std::map<std::string_view, FieldAccessor>& FieldsByName() {
  static const auto* const kFields = new std::map<std::string_view, FieldAccessor>{
      {"host", Text(&LogEvent::host)},
      {"program", Text(&LogEvent::program)},
      {"service", Text(&LogEvent::service)},
      {"pid", Integer(&LogEvent::pid)},
      {"time_us", Integer(&LogEvent::time_us)},
      {"message", Text(&LogEvent::message)},
      {"kind", {Compare::kText, [](const LogEvent& e) { return std::string(KindName(e.kind)); }}},
      {"severity",
       {Compare::kText, [](const LogEvent& e) { return std::string(SeverityName(e.severity)); }}},
      {"queue_id", Text(&LogEvent::queue_id)},
      {"client_host", Text(&LogEvent::client_host)},
      {"client_ip", Text(&LogEvent::client_ip)},
      {"client_port", Integer(&LogEvent::client_port)},
      {"from", Text(&LogEvent::from)},
      {"to", Text(&LogEvent::to)},
      {"orig_to", Text(&LogEvent::orig_to)},
      {"relay_host", Text(&LogEvent::relay_host)},
      {"relay_ip", Text(&LogEvent::relay_ip)},
      {"relay_port", Integer(&LogEvent::relay_port)},
      {"delay", {Compare::kNumber, [](const LogEvent& e) { return FormatNumber(e.delay); }}},
      {"delays[0]", Delays(0)},
      {"delays[1]", Delays(1)},
      {"delays[2]", Delays(2)},
      {"delays[3]", Delays(3)},
      {"dsn", Text(&LogEvent::dsn)},
      {"status", Text(&LogEvent::status)},
      {"response", Text(&LogEvent::response)},
      {"queued_as", Text(&LogEvent::queued_as)},
      {"message_id", Text(&LogEvent::message_id)},
      {"size", Integer(&LogEvent::size)},
      {"nrcpt", Integer(&LogEvent::nrcpt)},
      {"sasl_method", Text(&LogEvent::sasl_method)},
      {"sasl_username", Text(&LogEvent::sasl_username)},
      {"reject_stage", Text(&LogEvent::reject_stage)},
      {"reject_code", Text(&LogEvent::reject_code)},
      {"tls_protocol", Text(&LogEvent::tls_protocol)},
      {"tls_cipher", Text(&LogEvent::tls_cipher)},
      {"user", Text(&LogEvent::user)},
  };
  return *kFields;
}

// One checked value: `source` names the oracle's key (for the report), `field` the LogEvent
// field. Numbers compare numerically (floats within 0.1%). Text compares whole, or by kContains
// (the actual value holds the expected text) or kTailOf (the actual value is a non-empty tail of
// the expected text).
enum class TextMatch { kWhole, kContains, kTailOf };

struct Expectation {
  std::string source;
  std::string field;
  std::string expected;
  TextMatch text_match = TextMatch::kWhole;
};

bool NumbersMatch(const std::string& actual, const std::string& expected, Compare compare) {
  char* end_a = nullptr;
  char* end_e = nullptr;
  if (compare == Compare::kInteger) {
    long long a = std::strtoll(actual.c_str(), &end_a, 10);
    long long e = std::strtoll(expected.c_str(), &end_e, 10);
    return *end_a == '\0' && *end_e == '\0' && !expected.empty() && a == e;
  }
  double a = std::strtod(actual.c_str(), &end_a);
  double e = std::strtod(expected.c_str(), &end_e);
  return *end_a == '\0' && *end_e == '\0' && !expected.empty() &&
         std::fabs(a - e) <= 1e-3 * std::max(1.0, std::fabs(e));
}

// EXPECTs every expectation on `event`, naming the case, oracle key, expected and actual value.
void ExpectFields(const LogEvent& event, std::string_view label,
                  const std::vector<Expectation>& expectations) {
  for (const Expectation& x : expectations) {
    auto accessor = FieldsByName().find(x.field);
    if (accessor == FieldsByName().end()) {
      ADD_FAILURE() << "test bug: LogEvent has no field named " << x.field;
      continue;
    }
    std::string actual = accessor->second.get(event);
    bool ok = false;
    const char* how = "";
    if (accessor->second.compare != Compare::kText) {
      ok = NumbersMatch(actual, x.expected, accessor->second.compare);
    } else if (x.text_match == TextMatch::kContains) {
      ok = actual.find(x.expected) != std::string::npos;
      how = " (should contain the expected text)";
    } else if (x.text_match == TextMatch::kTailOf) {
      ok = !actual.empty() && EndsWith(x.expected, actual);
      how = " (should be a tail of the expected text)";
    } else {
      ok = actual == x.expected;
    }
    EXPECT_TRUE(ok) << label << ": " << x.source << " -> LogEvent." << x.field << how
                    << "\n  expected: \"" << x.expected << "\"\n    actual: \"" << actual
                    << "\"\n      line: " << event.raw;
  }
}

Expectation KindIs(std::string source, Kind kind) {
  return {std::move(source), "kind", std::string(KindName(kind))};
}

const std::string* Find(const Fields& fields, std::string_view key) {
  for (const auto& [k, v] : fields) {
    if (k == key) return &v;
  }
  return nullptr;
}

// The first Span field (by its stored name) that points outside the event's raw line.
std::optional<std::string> FirstBadSpan(const LogEvent& e) {
  for (const SpanField& f : kSpanFields) {
    const Span& span = e.*f.member;
    if (uint64_t{span.pos} + span.len > e.raw.size()) return std::string(f.name);
  }
  return std::nullopt;
}

class ParserCorpusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* env = std::getenv("MAILFLEET_CORPORA");
    ASSERT_TRUE(env != nullptr && *env != '\0')
        << "MAILFLEET_CORPORA is not set. tests/run.sh sets it to the shared corpora folder "
           "(../shared/corpora beside the repository); to run unit_tests by hand: "
           "MAILFLEET_CORPORA=/path/to/corpora build/bin/unit_tests";
    root_ = env;
    std::error_code ec;
    ASSERT_TRUE(fs::is_directory(root_ / "postfix-grok-patterns" / "test", ec))
        << "MAILFLEET_CORPORA=" << env
        << " is not the corpora folder (no postfix-grok-patterns/test in it); tests/run.sh "
           "sets it to ../shared/corpora";
  }

  // Parses every line of a plain corpus file.
  std::vector<LogEvent> ParseFile(const fs::path& path) {
    std::string text, error;
    std::vector<LogEvent> events;
    EXPECT_TRUE(corpus::ReadCorpusFile(path, &text, &error)) << error;
    for (std::string_view line : corpus::SplitLines(text)) {
      if (line.empty()) continue;
      parser_.Parse(line, &events.emplace_back());
    }
    return events;
  }

  fs::path root_;
  Parser parser_{corpus::ReferenceTime()};
};

// ----------------------------------------------------------------------------------------
// 1. postfix-grok-patterns/test/*.yaml
//
// Each case is `pattern` (^%{POSTFIX_SMTPD}$ ...), `data` (the payload after "prog[pid]: ") and
// `results` (the grok captures). postfix_keyvalue_data is expanded as the project's Logstash
// filter does (to=, relay=, delays=, client=, size=, ...; see corpus::ExpandGrokKeyValueData).
//
// Grok key → LogEvent field (compared whenever present):
//   postfix_queueid → queue_id ("NOQUEUE" → empty)      postfix_client_hostname → client_host
//   postfix_client_ip → client_ip                       postfix_client_port → client_port
//   postfix_relay_hostname → relay_host                 postfix_relay_ip → relay_ip
//   postfix_relay_port → relay_port                     postfix_from/to/orig_to → from/to/orig_to
//   postfix_relay_service, when relay= held a bare word → relay_host ("none" → relay_host and
//     relay_ip empty); a [private/...] socket is ignored
//   postfix_delay → delay                               postfix_delay_before_qmgr → delays[0]
//   postfix_delay_in_qmgr → delays[1]                   postfix_delay_conn_setup → delays[2]
//   postfix_delay_transmission → delays[3]              postfix_dsn → dsn
//   postfix_status → status                             postfix_message-id → message_id
//   postfix_{smtp,local,pipe,error}_response → response (whole after status=; elsewhere, as in
//     "host X said: ...", log_event.h does not say, so response must only contain it), and
//     "queued as ID" in it → queued_as
//   postfix_size → size, postfix_nrcpt → nrcpt          postfix_sasl_method/username → sasl_*
//   postfix_bounce_queueid → queued_as                  postfix_message_level → severity
//   postfix_tls_version → tls_protocol                  postfix_tls_cipher → tls_cipher
//   with postfix_action reject or milter-reject: postfix_smtp_stage → reject_stage,
//     "postfix_status_code postfix_status_code_enhanced" → reject_code, and response must
//     contain postfix_status_message
// The pattern alternative that matched also implies a kind (see ImpliedKind).
//
// Ignored keys (no LogEvent counterpart): postfix_keyvalue_data (expanded), postfix_message,
// postfix_status_data, postfix_smtp_stage / postfix_status_code* / postfix_status_message
// outside rejects, postfix_action (drives the reject checks), postfix_client_ip_unknown,
// postfix_service, postfix_{smtpd,smtp}_lostconn_{data,reason}, postfix_improper_pipelining_data,
// postfix_postscreen_*, postfix_anvil_*, postfix_scache_*, postfix_verify_*, postfix_cmd_* and
// postfix_command_counter_data, postfix_tls_* other than version and cipher, postfix_requiretls*,
// postfix_proxy_*, postfix_milter_*, postfix_prepend_*, postfix_dnsbl_*, postfix_server_ip/port,
// postfix_version, postfix_config_path, postfix_termination_signal, postfix_bounce_recipient,
// postfix_bounce_reason, postfix_pix_workaround, postfix_discarded_ehlo_keywords,
// postfix_postsuper_* (they drive the kind), and from key=value data: proto, helo, uid, tls,
// conn_use.

constexpr std::pair<std::string_view, std::string_view> kGrokFields[] = {
    {"postfix_client_hostname", "client_host"},
    {"postfix_client_ip", "client_ip"},
    {"postfix_client_port", "client_port"},
    {"postfix_relay_hostname", "relay_host"},
    {"postfix_relay_ip", "relay_ip"},
    {"postfix_relay_port", "relay_port"},
    {"postfix_from", "from"},
    {"postfix_to", "to"},
    {"postfix_orig_to", "orig_to"},
    {"postfix_delay", "delay"},
    {"postfix_delay_before_qmgr", "delays[0]"},
    {"postfix_delay_in_qmgr", "delays[1]"},
    {"postfix_delay_conn_setup", "delays[2]"},
    {"postfix_delay_transmission", "delays[3]"},
    {"postfix_dsn", "dsn"},
    {"postfix_status", "status"},
    {"postfix_message-id", "message_id"},
    {"postfix_size", "size"},
    {"postfix_nrcpt", "nrcpt"},
    {"postfix_sasl_method", "sasl_method"},
    {"postfix_sasl_username", "sasl_username"},
    {"postfix_bounce_queueid", "queued_as"},
    {"postfix_tls_version", "tls_protocol"},
    {"postfix_tls_cipher", "tls_cipher"},
};

constexpr std::string_view kGrokResponseKeys[] = {"postfix_smtp_response", "postfix_local_response",
                                                  "postfix_pipe_response",
                                                  "postfix_error_response"};

constexpr std::string_view kIgnoredGrokKeys[] = {"postfix_keyvalue_data",
                                                 "postfix_message",
                                                 "postfix_status_data",
                                                 "postfix_action",
                                                 "postfix_smtp_stage",
                                                 "postfix_status_code",
                                                 "postfix_status_code_enhanced",
                                                 "postfix_status_message",
                                                 "postfix_client_ip_unknown",
                                                 "postfix_service",
                                                 "postfix_smtpd_lostconn_data",
                                                 "postfix_smtpd_lostconn_reason",
                                                 "postfix_smtp_lostconn_data",
                                                 "postfix_smtp_lostconn_reason",
                                                 "postfix_improper_pipelining_data",
                                                 "postfix_command_counter_data",
                                                 "postfix_tls_trustlevel",
                                                 "postfix_tls_cipher_size",
                                                 "postfix_tls_key_exchange",
                                                 "postfix_tls_server_signature",
                                                 "postfix_tls_server_signature_size",
                                                 "postfix_tls_server_signature_curve",
                                                 "postfix_tls_server_digest",
                                                 "postfix_tls_error",
                                                 "postfix_tls_security_level",
                                                 "postfix_tls_downgrade_level",
                                                 "postfix_tls_policy_undecided",
                                                 "postfix_server_ip",
                                                 "postfix_server_port",
                                                 "postfix_version",
                                                 "postfix_config_path",
                                                 "postfix_termination_signal",
                                                 "postfix_bounce_recipient",
                                                 "postfix_bounce_reason",
                                                 "postfix_pix_workaround",
                                                 "postfix_discarded_ehlo_keywords",
                                                 "postfix_relay_service",
                                                 "postfix_dnsbl_domain",
                                                 "postfix_dnsbl_result",
                                                 "postfix_proto",
                                                 "postfix_helo",
                                                 "postfix_uid",
                                                 "postfix_tls",
                                                 "postfix_conn_use"};
constexpr std::string_view kIgnoredGrokPrefixes[] = {
    "postfix_postscreen_", "postfix_anvil_",     "postfix_scache_", "postfix_verify_",
    "postfix_cmd_",        "postfix_requiretls", "postfix_proxy_",  "postfix_milter_",
    "postfix_prepend_",    "postfix_postsuper_"};

bool IsIgnoredGrokKey(std::string_view key) {
  for (std::string_view k : kIgnoredGrokKeys) {
    if (key == k) return true;
  }
  for (std::string_view p : kIgnoredGrokPrefixes) {
    if (StartsWith(key, p)) return true;
  }
  return false;
}

struct GrokCase {
  std::string pattern;  // "POSTFIX_SMTPD"
  std::string data;
  Fields results;
};

bool ReadGrokCase(const fs::path& path, GrokCase* out, std::string* error) {
  std::string text;
  corpus::FlatYaml flat;
  if (!corpus::ReadWholeFile(path, &text, error) || !corpus::FlattenYaml(text, &flat, error)) {
    return false;
  }
  for (auto& [key, value] : flat) {
    if (key == "pattern") {
      std::string_view p = value;
      for (std::string_view strip : {"^", "%{"}) {
        if (StartsWith(p, strip)) p.remove_prefix(strip.size());
      }
      for (std::string_view strip : {"$", "}"}) {
        if (EndsWith(p, strip)) p.remove_suffix(strip.size());
      }
      out->pattern = std::string(p);
    } else if (key == "data") {
      out->data = value;
    } else if (StartsWith(key, "results.")) {
      out->results.emplace_back(key.substr(8), value);
    } else {
      *error = "unexpected key " + key;
      return false;
    }
  }
  if (out->pattern.empty() || out->data.empty()) {
    *error = "no pattern or no data";
    return false;
  }
  const std::string* kv = Find(out->results, "postfix_keyvalue_data");
  if (kv != nullptr) corpus::ExpandGrokKeyValueData(*kv, &out->results);
  return true;
}

// How a grok case becomes a whole log line. Most patterns match a daemon's whole payload; four
// match only a piece of one (a delays=, relay= or tls= value, smtpd's command counts), so the
// piece goes inside a line of the kind Postfix writes it in, which adds its own expectations.
struct LineRecipe {
  std::string daemon;
  std::string before, after;  // payload = before + data + after
  Fields extra_results;
  std::optional<Kind> kind;
};

std::optional<LineRecipe> RecipeFor(std::string_view pattern) {
  static const auto* const kDaemons = new std::map<std::string_view, std::string_view>{
      {"POSTFIX_ANVIL", "anvil"},         {"POSTFIX_BOUNCE", "bounce"},
      {"POSTFIX_CLEANUP", "cleanup"},     {"POSTFIX_DISCARD", "discard"},
      {"POSTFIX_DNSBLOG", "dnsblog"},     {"POSTFIX_ERROR", "error"},
      {"POSTFIX_LMTP", "lmtp"},           {"POSTFIX_LOCAL", "local"},
      {"POSTFIX_MASTER", "master"},       {"POSTFIX_PICKUP", "pickup"},
      {"POSTFIX_PIPE", "pipe"},           {"POSTFIX_POSTDROP", "postdrop"},
      {"POSTFIX_POSTMAP", "postmap"},     {"POSTFIX_POSTSCREEN", "postscreen"},
      {"POSTFIX_POSTSUPER", "postsuper"}, {"POSTFIX_QMGR", "qmgr"},
      {"POSTFIX_SCACHE", "scache"},       {"POSTFIX_SCRIPT", "postfix-script"},
      {"POSTFIX_SENDMAIL", "sendmail"},   {"POSTFIX_SMTP", "smtp"},
      {"POSTFIX_SMTPD", "smtpd"},         {"POSTFIX_TLSMGR", "tlsmgr"},
      {"POSTFIX_TLSPROXY", "tlsproxy"},   {"POSTFIX_TRIVIAL_REWRITE", "trivial-rewrite"},
      {"POSTFIX_VERIFY", "verify"},       {"POSTFIX_VIRTUAL", "virtual"},
  };
  auto daemon = kDaemons->find(pattern);
  if (daemon != kDaemons->end()) return LineRecipe{std::string(daemon->second), "", "", {}, {}};
  const Fields delivered = {{"postfix_queueid", "1A2B3C4D5E"},
                            {"postfix_to", "user@example.com"},
                            {"postfix_status", "sent"}};
  if (pattern == "POSTFIX_DELAYS") {
    return LineRecipe{"smtp",
                      "1A2B3C4D5E: to=<user@example.com>, relay=mx.example.com[192.0.2.25]:25, "
                      "delay=3.6, delays=",
                      ", dsn=2.0.0, status=sent (250 2.0.0 Ok)", delivered, Kind::kDelivery};
  }
  if (pattern == "POSTFIX_RELAY") {
    return LineRecipe{
        "lmtp", "1A2B3C4D5E: to=<user@example.com>, relay=",
        ", delay=0.15, delays=0.04/0/0.02/0.08, dsn=2.0.0, status=sent (250 2.0.0 Ok)", delivered,
        Kind::kDelivery};
  }
  if (pattern == "POSTFIX_TLS_FEATURES") {
    return LineRecipe{"smtp",
                      "1A2B3C4D5E: to=<user@example.com>, relay=mx.example.com[192.0.2.25]:25, "
                      "delay=3.6, delays=0.08/0.02/0.85/0.14, tls=",
                      ", dsn=2.1.5, status=sent (250 2.0.0 Ok)", delivered, Kind::kDelivery};
  }
  if (pattern == "POSTFIX_COMMAND_COUNTER_DATA") {
    return LineRecipe{
        "smtpd",
        "disconnect from mail.example.net[192.0.2.10] ",
        "",
        {{"postfix_client_hostname", "mail.example.net"}, {"postfix_client_ip", "192.0.2.10"}},
        Kind::kDisconnect};
  }
  return std::nullopt;
}

// Control characters in `data` (the YAML holds real CR/LF) written as Postfix writes them in
// its logs: "\r", "\n", "\t", else "\ooo".
std::string EscapeLikePostfix(std::string_view data) {
  std::string out;
  for (char c : data) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out.push_back(c);
    } else if (c == '\r' || c == '\n' || c == '\t') {
      out += c == '\r' ? "\\r" : c == '\n' ? "\\n" : "\\t";
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03o", u);
      out += buf;
    }
  }
  return out;
}

// The kind that the pattern alternative which matched stands for, when log_event.h names it.
std::optional<Expectation> ImpliedKind(std::string_view daemon, std::string_view data,
                                       const Fields& r) {
  auto has = [&](std::string_view key) { return Find(r, key) != nullptr; };
  auto is = [&](std::string_view key, std::string_view value) {
    const std::string* v = Find(r, key);
    return v != nullptr && *v == value;
  };
  bool queued = has("postfix_queueid") && !is("postfix_queueid", "NOQUEUE");
  bool smtp_client = daemon == "smtp" || daemon == "lmtp";
  if (is("postfix_action", "reject") || is("postfix_action", "milter-reject")) {
    return KindIs("postfix_action", Kind::kReject);
  }
  if (is("postfix_milter_result", "reject")) return KindIs("postfix_milter_result", Kind::kReject);
  if (has("postfix_bounce_queueid")) return KindIs("postfix_bounce_queueid", Kind::kBounce);
  if (has("postfix_message-id")) return KindIs("postfix_message-id", Kind::kMessageId);
  if (has("postfix_tls_version")) return KindIs("postfix_tls_version", Kind::kTls);
  if (has("postfix_version") || has("postfix_termination_signal")) {
    return KindIs("postfix_version/termination_signal", Kind::kDaemon);
  }
  if (has("postfix_postscreen_violation") || has("postfix_postscreen_access")) {
    return KindIs("postfix_postscreen_violation/access", Kind::kPostscreen);
  }
  for (const auto& [key, value] : r) {
    if (StartsWith(key, "postfix_anvil_") || StartsWith(key, "postfix_scache_") ||
        StartsWith(key, "postfix_postscreen_cache_")) {
      return KindIs(key, Kind::kStatistics);
    }
  }
  static constexpr std::pair<std::string_view, Kind> kPostsuper[] = {
      {"removed", Kind::kDelete},
      {"requeued", Kind::kRequeue},
      {"placed on hold", Kind::kHold},
      {"released from hold", Kind::kRelease}};
  for (const auto& [action, kind] : kPostsuper) {
    if (is("postfix_postsuper_action", action)) return KindIs("postfix_postsuper_action", kind);
  }
  if (is("postfix_postsuper_summary_action", "Deleted")) {
    return KindIs("postfix_postsuper_summary_action", Kind::kDelete);
  }
  const std::string* message = Find(r, "postfix_message");
  if (message != nullptr && message->find("SASL") != std::string::npos &&
      message->find("authentication failed") != std::string::npos) {
    return KindIs("postfix_message (SASL ... authentication failed)", Kind::kSaslFailure);
  }
  if (queued && daemon == "cleanup" && message != nullptr &&
      (StartsWith(*message, "header ") || StartsWith(*message, "body "))) {
    return KindIs("postfix_message_level + postfix_message (header/body)", Kind::kHeaderAction);
  }
  if (queued && daemon == "qmgr" && is("postfix_message", "removed")) {
    return KindIs("postfix_message", Kind::kRemoved);
  }
  if (queued && daemon == "qmgr" && is("postfix_status", "expired")) {
    return KindIs("postfix_status", Kind::kExpired);
  }
  if (queued && has("postfix_status") && !has("postfix_message_level")) {
    for (std::string_view d : {"smtp", "lmtp", "local", "virtual", "pipe", "error", "discard"}) {
      if (daemon == d) return KindIs("postfix_status", Kind::kDelivery);
    }
  }
  size_t colon = data.find(": ");
  std::string_view after_id = colon == std::string_view::npos ? data : data.substr(colon + 2);
  if (queued && smtp_client &&
      (StartsWith(after_id, "host ") || StartsWith(after_id, "conversation with ") ||
       has("postfix_smtp_lostconn_data"))) {
    return KindIs("QID: host ... said / lost connection / timed out", Kind::kRemoteReply);
  }
  if (!queued && smtp_client && StartsWith(data, "connect to ") &&
      has("postfix_smtp_lostconn_data")) {
    return KindIs("postfix_smtp_lostconn_data (connect to ...)", Kind::kConnectFailure);
  }
  if (queued && daemon == "qmgr" && has("postfix_size") && has("postfix_nrcpt")) {
    return KindIs("postfix_keyvalue_data (size=, nrcpt=)", Kind::kQueued);
  }
  if (queued && daemon == "smtpd" && has("postfix_client_ip") && !has("postfix_message_level")) {
    return KindIs("postfix_keyvalue_data (client=)", Kind::kClient);
  }
  if (queued && daemon == "pickup" && has("postfix_uid")) {
    return KindIs("postfix_keyvalue_data (uid=)", Kind::kPickup);
  }
  return std::nullopt;
}

// The expectations a case's results give, plus the keys neither mapped nor ignored.
std::vector<Expectation> GrokExpectations(std::string_view daemon, std::string_view data,
                                          const Fields& r, std::vector<std::string>* unknown_keys) {
  std::vector<Expectation> out;
  const std::string* action = Find(r, "postfix_action");
  bool reject = action != nullptr && (*action == "reject" || *action == "milter-reject");
  for (const auto& [key, value] : r) {
    bool handled = false;
    for (const auto& [grok, field] : kGrokFields) {
      if (key == grok) {
        out.push_back({key, std::string(field), value});
        handled = true;
      }
    }
    for (std::string_view response_key : kGrokResponseKeys) {
      if (key != response_key) continue;
      out.push_back({key, "response", value,
                     Find(r, "postfix_status") ? TextMatch::kWhole : TextMatch::kContains});
      size_t at = value.find("queued as ");
      if (at != std::string::npos) {
        std::string id;
        for (size_t i = at + 10; i < value.size() && corpus::IsAlnum(value[i]); ++i) {
          id.push_back(value[i]);
        }
        out.push_back({key + " (\"queued as ID\")", "queued_as", id});
      }
      handled = true;
    }
    if (key == "postfix_queueid") {
      out.push_back({key, "queue_id", value == "NOQUEUE" ? "" : value});
    } else if (key == "postfix_message_level") {
      static constexpr std::pair<std::string_view, Severity> kLevels[] = {
          {"info", Severity::kInfo},
          {"warning", Severity::kWarning},
          {"error", Severity::kError},
          {"fatal", Severity::kFatal},
          {"panic", Severity::kPanic}};
      for (const auto& [level, severity] : kLevels) {
        if (value == level) out.push_back({key, "severity", std::string(SeverityName(severity))});
      }
    } else if (key == "postfix_relay_service" && value.find('/') == std::string::npos &&
               Find(r, "postfix_relay_hostname") == nullptr) {
      out.push_back({key, "relay_host", value == "none" ? "" : value});
      if (value == "none") out.push_back({key, "relay_ip", ""});
    } else if (reject && key == "postfix_smtp_stage") {
      out.push_back({key, "reject_stage", value});
    } else if (reject && key == "postfix_status_message") {
      out.push_back({key, "response", value, TextMatch::kContains});
    } else if (reject && key == "postfix_status_code") {
      const std::string* enhanced = Find(r, "postfix_status_code_enhanced");
      out.push_back({"postfix_status_code + postfix_status_code_enhanced", "reject_code",
                     enhanced != nullptr ? value + " " + *enhanced : value});
    } else if (!handled && !IsIgnoredGrokKey(key)) {
      unknown_keys->push_back(key);
    }
  }
  if (std::optional<Expectation> kind = ImpliedKind(daemon, data, r)) out.push_back(*kind);
  return out;
}

TEST_F(ParserCorpusTest, PostfixGrokPatternCasesMatchFieldByField) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_ / "postfix-grok-patterns" / "test", ec)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  ASSERT_FALSE(ec) << ec.message();
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files.size(), 191u) << "the corpora README counts 191 grok cases";

  const int64_t expected_time = *corpus::ExpectedTimeUs("Nov 29 00:54:25");
  std::set<std::string> unknown_keys;
  int other = 0;
  std::vector<std::string> other_cases;
  for (const fs::path& path : files) {
    std::string name = path.filename().string();
    SCOPED_TRACE(name);
    GrokCase c;
    std::string error;
    if (!ReadGrokCase(path, &c, &error)) {
      ADD_FAILURE() << name << ": cannot read the case: " << error;
      continue;
    }
    std::optional<LineRecipe> recipe = RecipeFor(c.pattern);
    if (!recipe) {
      ADD_FAILURE() << name << ": no daemon known for pattern " << c.pattern;
      continue;
    }
    std::string payload = recipe->before + EscapeLikePostfix(c.data) + recipe->after;
    std::string line = "Nov 29 00:54:25 mx1 postfix/" + recipe->daemon + "[123]: " + payload;
    LogEvent event;
    parser_.Parse(line, &event);

    Fields results = c.results;
    for (const auto& extra : recipe->extra_results) {
      if (Find(results, extra.first) == nullptr) results.push_back(extra);
    }
    std::vector<std::string> unknown;
    std::vector<Expectation> expectations = {
        {"(line header)", "host", "mx1"},
        {"(line header)", "program", "postfix/" + recipe->daemon},
        {"(line header)", "service", recipe->daemon},
        {"(line header)", "pid", "123"},
        {"(line header)", "time_us", std::to_string(expected_time)},
        {"data", "message", payload},
    };
    for (Expectation& x : GrokExpectations(recipe->daemon, c.data, results, &unknown)) {
      expectations.push_back(std::move(x));
    }
    if (recipe->kind) expectations.push_back(KindIs("(line around the fragment)", *recipe->kind));
    ExpectFields(event, name, expectations);
    unknown_keys.insert(unknown.begin(), unknown.end());
    if (event.kind == Kind::kOther) {
      ++other;
      other_cases.push_back(name);
    }
  }
  for (const std::string& key : unknown_keys) {
    ADD_FAILURE() << "grok result key " << key
                  << " is neither mapped to a LogEvent field nor listed as ignored";
  }
  std::cout << "\n===== postfix-grok-patterns: " << other << " of " << files.size()
            << " cases left kOther =====\n";
  for (const std::string& name : other_cases) std::cout << "  " << name << "\n";
  RecordProperty("grok_cases_left_other", other);
}

// ----------------------------------------------------------------------------------------
// 2. crowdsec-hub/.tests/*/parser.assert: expectations for line N of the test's .log.
//
// Parsed/Meta key → LogEvent field:
//   Parsed.program → program, Parsed.pid → pid, Parsed.message → message (for "dovecot" lines
//   the parser moves "imap-login: ", "auth-worker(N): ", "Info: " into service and severity, so
//   message need only be a non-empty tail of crowdsec's), Meta.machine → host,
//   Parsed.timestamp / timestamp8601 → time_us (computed here), Parsed.remote_addr,
//   Parsed.dovecot_remote_ip, Meta.source_ip → client_ip, Parsed.remote_host,
//   Meta.source_hostname → client_host, Parsed.port → client_port, Parsed.dovecot_user → user,
//   Unmarshaled.postfix.from/to → from/to (without <>), Parsed.smtp_return_codes → reject_code,
//   with Parsed.action: Parsed.command → reject_stage and response contains Parsed.reason.
//   Kinds: action reject → kReject, Meta.dovecot_login_result auth_failed →
//   kDovecotAuthFailure, Parsed.message_failure (the SASL node) → kSaslFailure, Parsed.pregreet
//   → kPostscreen.
// Ignored: logsource, datasource_*, log_type*, Meta.service/action/reason/pregreet, Meta.timestamp
//   (crowdsec's own year guess), dovecot_login_message, dovecot_user_backend, dovecot_local_ip,
//   protocol, auth_func, count, time_attempt, message_attempt, helo, kvItems, command outside
//   rejects, smtp_basic/enhanced_status_code (smtp_return_codes holds both),
//   Unmarshaled.postfix.proto/helo. Test folders whose parser.assert is empty only hold
//   scenario (alert) expectations; their lines are still swept by test 4.

std::vector<Expectation> CrowdsecExpectations(const std::vector<corpus::CrowdsecAssert>& asserts,
                                              std::vector<std::string>* unknown_keys) {
  std::map<std::string, std::string> parsed;
  for (const auto& a : asserts) parsed[a.section + "." + a.key] = a.value;
  auto get = [&](const std::string& key) {
    auto it = parsed.find(key);
    return it == parsed.end() ? std::string() : it->second;
  };
  bool reject_line = parsed.count("Parsed.action") > 0;
  bool dovecot_line = get("Parsed.program") == "dovecot";
  static const auto* const kFieldOf = new std::map<std::string_view, std::string_view>{
      {"Parsed.program", "program"},           {"Parsed.pid", "pid"},
      {"Parsed.message", "message"},           {"Meta.machine", "host"},
      {"Parsed.remote_addr", "client_ip"},     {"Parsed.dovecot_remote_ip", "client_ip"},
      {"Meta.source_ip", "client_ip"},         {"Parsed.remote_host", "client_host"},
      {"Meta.source_hostname", "client_host"}, {"Parsed.port", "client_port"},
      {"Parsed.dovecot_user", "user"},         {"Parsed.smtp_return_codes", "reject_code"},
  };
  static const auto* const kIgnored = new std::set<std::string_view>{
      "Parsed.logsource",
      "Meta.datasource_path",
      "Meta.datasource_type",
      "Meta.log_type",
      "Meta.log_type_enh",
      "Meta.service",
      "Meta.action",
      "Meta.reason",
      "Meta.pregreet",
      "Meta.timestamp",
      "Parsed.dovecot_login_message",
      "Parsed.dovecot_user_backend",
      "Parsed.dovecot_local_ip",
      "Parsed.protocol",
      "Parsed.auth_func",
      "Parsed.count",
      "Parsed.time_attempt",
      "Parsed.message_attempt",
      "Parsed.helo",
      "Parsed.kvItems",
      "Unmarshaled.postfix.proto",
      "Unmarshaled.postfix.helo",
      "Parsed.action",
      "Meta.dovecot_login_result",
      "Parsed.message_failure",
      "Parsed.pregreet",
      "Parsed.command",
      "Parsed.smtp_basic_status_code",
      "Parsed.smtp_enhanced_status_code",
  };
  std::vector<Expectation> out;
  for (const auto& [key, value] : parsed) {
    auto field = kFieldOf->find(key);
    if (key == "Parsed.message" && dovecot_line) {
      out.push_back({key, "message", value, TextMatch::kTailOf});
    } else if (field != kFieldOf->end()) {
      out.push_back({key, std::string(field->second), value});
    } else if (key == "Parsed.timestamp" || key == "Parsed.timestamp8601") {
      std::optional<int64_t> t = corpus::ExpectedTimeUs(value);
      if (t) {
        out.push_back({key + " " + value, "time_us", std::to_string(*t)});
      } else {
        unknown_keys->push_back(key + " (unreadable: " + value + ")");
      }
    } else if (key == "Unmarshaled.postfix.from" || key == "Unmarshaled.postfix.to") {
      std::string_view v = value;
      if (StartsWith(v, "<") && EndsWith(v, ">")) v = v.substr(1, v.size() - 2);
      out.push_back({key, key.substr(key.rfind('.') + 1), std::string(v)});
    } else if (key == "Parsed.command" && reject_line) {
      out.push_back({key, "reject_stage", value});
    } else if (key == "Parsed.reason" && reject_line) {
      out.push_back({key, "response", value, TextMatch::kContains});
    } else if (kIgnored->count(key) == 0) {
      unknown_keys->push_back(key);
    }
  }
  if (get("Parsed.action") == "reject") out.push_back(KindIs("Parsed.action", Kind::kReject));
  if (get("Meta.dovecot_login_result") == "auth_failed") {
    out.push_back(KindIs("Meta.dovecot_login_result", Kind::kDovecotAuthFailure));
  }
  if (parsed.count("Parsed.message_failure") > 0) {
    out.push_back(KindIs("Parsed.message_failure", Kind::kSaslFailure));
  }
  if (parsed.count("Parsed.pregreet") > 0) {
    out.push_back(KindIs("Parsed.pregreet", Kind::kPostscreen));
  }
  return out;
}

TEST_F(ParserCorpusTest, CrowdsecParserAssertsMatch) {
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_ / "crowdsec-hub" / ".tests", ec)) {
    if (entry.is_directory()) dirs.push_back(entry.path());
  }
  ASSERT_FALSE(ec) << "crowdsec-hub/.tests: " << ec.message();
  std::sort(dirs.begin(), dirs.end());
  int checked = 0, scenario_only = 0;
  std::set<std::string> unknown_keys;
  for (const fs::path& dir : dirs) {
    std::string test = dir.filename().string();
    std::string asserts_text, log_text, error;
    if (!corpus::ReadWholeFile(dir / "parser.assert", &asserts_text, &error)) {
      ADD_FAILURE() << error;
      continue;
    }
    std::map<int, std::vector<corpus::CrowdsecAssert>> by_line;
    for (std::string_view line : corpus::SplitLines(asserts_text)) {
      if (auto a = corpus::ParseCrowdsecAssert(line)) by_line[a->index].push_back(*a);
    }
    if (by_line.empty()) {
      ++scenario_only;
      continue;
    }
    std::vector<fs::path> logs;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".log") logs.push_back(entry.path());
    }
    ASSERT_EQ(logs.size(), 1u) << test << ": expected one .log beside parser.assert";
    ASSERT_TRUE(corpus::ReadWholeFile(logs[0], &log_text, &error)) << error;
    std::vector<std::string_view> lines = corpus::SplitLines(log_text);
    for (const auto& [index, asserts] : by_line) {
      std::string label =
          test + "/" + logs[0].filename().string() + ":" + std::to_string(index + 1);
      SCOPED_TRACE(label);
      if (index >= static_cast<int>(lines.size())) {
        ADD_FAILURE() << label << ": parser.assert names event " << index << " past the log's end";
        continue;
      }
      std::string_view line = lines[index];
      for (const auto& a : asserts) {  // the asserts must describe this very line
        if (a.section == "Parsed" && a.key == "message") {
          ASSERT_TRUE(EndsWith(line, a.value)) << label << ": assert/line mismatch\n  " << line;
        }
      }
      std::vector<std::string> unknown;
      std::vector<Expectation> expectations = CrowdsecExpectations(asserts, &unknown);
      unknown_keys.insert(unknown.begin(), unknown.end());
      LogEvent event;
      parser_.Parse(line, &event);
      ExpectFields(event, label, expectations);
      ++checked;
    }
  }
  for (const std::string& key : unknown_keys) {
    ADD_FAILURE() << "crowdsec assert key " << key
                  << " is neither mapped to a LogEvent field nor listed as ignored";
  }
  EXPECT_GT(checked, 0) << "no crowdsec parser.assert expectations were found";
  std::cout << "\n===== crowdsec-hub: " << checked << " lines checked against parser.assert; "
            << scenario_only << " test folders hold only scenario asserts =====\n";
}

// ----------------------------------------------------------------------------------------
// 3. datadog-integrations-core/postfix/assets/logs/postfix_tests.yaml
//
// result.custom.* → LogEvent field: pid → pid, postfix.client_id (Datadog's name for the queue
// id) → queue_id, system.process → program, system.user (Datadog's name for the syslog host) →
// host, network.bytes_written → size, properties.from/to/nrcpt/delay/dsn/status → same,
// network.client.ip → client_ip, postfix.hostname → client_host, message-id → message_id; the
// sample's own timestamp → time_us.
// Ignored: custom.date and timestamp (Datadog's year-less epoch), message (the sample again),
// tags, postfix.queue.state (Datadog's words, e.g. "mail for delivery").

TEST_F(ParserCorpusTest, DatadogSamplesMatch) {
  fs::path path = root_ / "datadog-integrations-core/postfix/assets/logs/postfix_tests.yaml";
  std::string text, error;
  corpus::FlatYaml flat;
  ASSERT_TRUE(corpus::ReadWholeFile(path, &text, &error)) << error;
  ASSERT_TRUE(corpus::FlattenYaml(text, &flat, &error)) << path << ": " << error;

  std::map<int, Fields> samples;  // tests.N.* → N → (rest of the path, value)
  for (auto& [key, value] : flat) {
    if (!StartsWith(key, "tests.")) continue;
    size_t dot = key.find('.', 6);
    std::optional<int64_t> n = corpus::ParseDecimal(std::string_view(key).substr(6, dot - 6));
    ASSERT_TRUE(n.has_value() && dot != std::string::npos) << "unexpected key " << key;
    samples[static_cast<int>(*n)].emplace_back(key.substr(dot + 1), value);
  }
  EXPECT_EQ(samples.size(), 6u) << "the corpora README counts 6 Datadog samples";

  static const auto* const kFieldOf = new std::map<std::string_view, std::string_view>{
      {"result.custom.pid", "pid"},
      {"result.custom.postfix.client_id", "queue_id"},
      {"result.custom.system.process", "program"},
      {"result.custom.system.user", "host"},
      {"result.custom.network.bytes_written", "size"},
      {"result.custom.properties.from", "from"},
      {"result.custom.properties.to", "to"},
      {"result.custom.properties.nrcpt", "nrcpt"},
      {"result.custom.properties.delay", "delay"},
      {"result.custom.properties.dsn", "dsn"},
      {"result.custom.properties.status", "status"},
      {"result.custom.network.client.ip", "client_ip"},
      {"result.custom.postfix.hostname", "client_host"},
      {"result.custom.message-id", "message_id"},
  };
  for (const auto& [n, fields] : samples) {
    std::string label = "postfix_tests.yaml sample " + std::to_string(n + 1);
    SCOPED_TRACE(label);
    const std::string* sample = Find(fields, "sample");
    ASSERT_NE(sample, nullptr) << label << ": no sample";
    std::vector<Expectation> expectations;
    std::optional<int64_t> t = corpus::ExpectedTimeUs(*sample);
    ASSERT_TRUE(t.has_value()) << label << ": unreadable timestamp";
    expectations.push_back({"sample timestamp", "time_us", std::to_string(*t)});
    for (const auto& [key, value] : fields) {
      auto field = kFieldOf->find(key);
      if (field != kFieldOf->end()) {
        expectations.push_back({key, std::string(field->second), value});
      } else if (key != "sample" && key != "result.custom.date" && key != "result.timestamp" &&
                 key != "result.message" && !StartsWith(key, "result.tags.") &&
                 key != "result.custom.postfix.queue.state") {
        ADD_FAILURE() << label << ": key " << key << " is neither mapped nor listed as ignored";
      }
    }
    LogEvent event;
    parser_.Parse(*sample, &event);
    ExpectFields(event, label, expectations);
  }
}

// ----------------------------------------------------------------------------------------
// 4. Every raw log line of every corpus.

struct Tally {
  int64_t lines = 0;
  int64_t mail = 0;   // Postfix or Dovecot lines (judged by corpus::FindProgram)
  int64_t other = 0;  // ... of which the parser left kOther
};

struct Shape {
  int64_t count = 0;
  std::string example;
};

std::string Percent(int64_t part, int64_t whole) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << (whole == 0 ? 0.0 : 100.0 * part / whole) << "%";
  return out.str();
}

TEST_F(ParserCorpusTest, EveryRawLineParsesAndFewPostfixOrDovecotLinesStayOther) {
  std::vector<std::pair<fs::path, corpus::LineFormat>> files;  // relative path, format
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(
           root_, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    fs::path relative = it->path().lexically_relative(root_);
    if (auto format = corpus::RawLogFormat(relative)) files.emplace_back(relative, *format);
  }
  ASSERT_FALSE(ec) << "walking " << root_ << ": " << ec.message();
  std::sort(files.begin(), files.end());

  std::map<std::string, Tally> per_corpus;
  Tally total;
  std::map<std::string, Shape> shapes;
  int64_t bad_events = 0;
  LogEvent event;
  for (const auto& [relative, format] : files) {
    std::string text, error;
    if (!corpus::ReadCorpusFile(root_ / relative, &text, &error)) {
      ADD_FAILURE() << relative << ": " << error;
      continue;
    }
    Tally& tally = per_corpus[relative.begin()->string()];
    int64_t file_lines = 0;
    for (std::string_view line : corpus::ExtractLogLines(text, format)) {
      parser_.Parse(line, &event);
      ++file_lines;
      std::optional<std::string> bad = FirstBadSpan(event);
      if (!bad && !event.truncated && event.raw != line) bad = "raw";
      if (bad && ++bad_events <= 10) {
        ADD_FAILURE() << relative << ": LogEvent." << *bad << " is wrong for\n  " << line;
      }
      std::optional<corpus::ProgramAndMessage> pm = corpus::FindProgram(line);
      if (!pm || !corpus::IsPostfixOrDovecot(pm->program)) continue;
      ++tally.mail;
      if (event.kind != Kind::kOther) continue;
      ++tally.other;
      Shape& shape = shapes[corpus::LineShape(*pm)];
      if (shape.count++ == 0) shape.example = std::string(line);
    }
    tally.lines += file_lines;
    if (relative == "pixelpark-postfix-logsums/test/mail.log.xz") {
      EXPECT_EQ(file_lines, 69861) << "the corpora README counts 69,861 lines in " << relative;
    }
  }
  EXPECT_EQ(bad_events, 0) << "events with spans outside their line (first 10 shown above)";
  for (std::string_view name :
       {"Hsn723-postfix_exporter", "crowdsec-hub", "fail2ban", "kumina-postfix_exporter",
        "lightmeter-controlcenter", "lograptor", "modoboa", "msimerson-postfix-parser",
        "pixelpark-postfix-logsums", "sergeymakinen-postfix_exporter", "sshguard", "wazuh-ruleset",
        "winebarrel-postfix_status_line", "youyo-postfix-log-parser"}) {
    EXPECT_GT(per_corpus[std::string(name)].lines, 0) << "no log lines read from " << name;
  }

  std::ostringstream report;
  report << "\n===== parser corpus sweep: Postfix/Dovecot lines the parser left kOther =====\n"
         << std::left << std::setw(34) << "corpus" << std::right << std::setw(9) << "lines"
         << std::setw(16) << "postfix+dovecot" << std::setw(9) << "kOther" << std::setw(9)
         << "share"
         << "\n";
  for (const auto& [name, t] : per_corpus) {
    report << std::left << std::setw(34) << name << std::right << std::setw(9) << t.lines
           << std::setw(16) << t.mail << std::setw(9) << t.other << std::setw(9)
           << Percent(t.other, t.mail) << "\n";
    total.lines += t.lines;
    total.mail += t.mail;
    total.other += t.other;
  }
  report << std::left << std::setw(34) << "TOTAL" << std::right << std::setw(9) << total.lines
         << std::setw(16) << total.mail << std::setw(9) << total.other << std::setw(9)
         << Percent(total.other, total.mail) << "\n";

  std::vector<std::pair<std::string, Shape>> ranked(shapes.begin(), shapes.end());
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second.count > b.second.count; });
  report << "\n===== top 30 shapes of Postfix/Dovecot lines left kOther (" << shapes.size()
         << " shapes; X = id, N = number) =====\n";
  for (size_t i = 0; i < ranked.size() && i < 30; ++i) {
    report << std::setw(7) << ranked[i].second.count << "  " << ranked[i].first
           << "\n         e.g. " << ranked[i].second.example << "\n";
  }
  std::cout << report.str() << std::flush;

  RecordProperty("postfix_dovecot_lines", static_cast<int>(total.mail));
  RecordProperty("postfix_dovecot_lines_left_other", static_cast<int>(total.other));
  RecordProperty("postfix_dovecot_other_share", Percent(total.other, total.mail));
  ASSERT_GT(total.mail, 0) << "no Postfix or Dovecot lines found in " << root_;
  EXPECT_LT(100.0 * total.other / total.mail, 1.0)
      << total.other << " of " << total.mail
      << " Postfix/Dovecot lines stay kOther; see the shapes printed above";
}

// ----------------------------------------------------------------------------------------
// 5. lightmeter's two-host relay: server 1 relays 670FCA58C8 and hears "queued as F27E789349";
// server 2 receives F27E789349; both log the same message-id.

const LogEvent* FindEvent(const std::vector<LogEvent>& events, Kind kind,
                          std::string_view queue_id) {
  for (const LogEvent& e : events) {
    if (e.kind == kind && e.Get(e.queue_id) == queue_id) return &e;
  }
  return nullptr;
}

TEST_F(ParserCorpusTest, LightmeterTwoHostRelayLinksThroughQueuedAsAndMessageId) {
  fs::path dir = root_ / "lightmeter-controlcenter/test_files/postfix_logs/individual_files";
  std::vector<LogEvent> server1 = ParseFile(dir / "29_inbound_relayed_message_server_1.log");
  std::vector<LogEvent> server2 = ParseFile(dir / "29_inbound_relayed_message_server_2.log");

  const LogEvent* relayed = FindEvent(server1, Kind::kDelivery, "670FCA58C8");
  ASSERT_NE(relayed, nullptr) << "server 1: no kDelivery event for 670FCA58C8";
  EXPECT_EQ(relayed->Get(relayed->queued_as), "F27E789349") << relayed->raw;
  EXPECT_EQ(relayed->Get(relayed->relay_host), "mail2.example.com") << relayed->raw;

  const LogEvent* received = FindEvent(server2, Kind::kClient, "F27E789349");
  EXPECT_NE(received, nullptr) << "server 2: no kClient event for F27E789349";

  const LogEvent* id1 = FindEvent(server1, Kind::kMessageId, "670FCA58C8");
  const LogEvent* id2 = FindEvent(server2, Kind::kMessageId, "F27E789349");
  ASSERT_NE(id1, nullptr) << "server 1: no kMessageId event for 670FCA58C8";
  ASSERT_NE(id2, nullptr) << "server 2: no kMessageId event for F27E789349";
  EXPECT_EQ(id1->Get(id1->message_id), "fa421b15dce6013dc6e14fec64e371b2@swift.generated");
  EXPECT_EQ(id1->Get(id1->message_id), id2->Get(id2->message_id));
}

}  // namespace
}  // namespace mailfleet::parse
