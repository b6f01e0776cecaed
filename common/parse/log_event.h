// One parsed mail log line. The event owns its raw line; every text field is a Span (offset
// and length) into it, so parsing allocates nothing beyond the raw copy and events can be
// moved freely. A line the parser does not understand is kept whole with kind kOther.
//   LogEvent e;
//   if (parser.Parse(line, &e)) ... e.Get(e.queue_id) ...
#pragma once

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace mailfleet::parse {

// Where a field lies in LogEvent::raw. Empty (len 0) when the line had no such field.
struct Span {
  uint32_t pos = 0;
  uint32_t len = 0;
  bool empty() const { return len == 0; }
};

// What a line says. Stable names (KindName) are stored in the database: add, never renumber.
enum class Kind : uint8_t {
  kOther = 0,       // not understood; raw kept
  kConnect,         // smtpd/postscreen/dovecot: connect from client
  kDisconnect,      // smtpd disconnect from (with command counts)
  kLostConnection,  // smtpd lost connection after X from
  kClient,          // smtpd "QID: client=host[ip]" (a message enters the queue by SMTP)
  kPickup,          // pickup "QID: uid=N from=<...>" (local submission)
  kMessageId,       // cleanup "QID: message-id=<...>"
  kQueued,          // qmgr "QID: from=<...>, size=N, nrcpt=N (queue active)"
  kDelivery,        // smtp/lmtp/local/virtual/pipe/error/discard "QID: to=<...>, ... status=..."
  kRemoved,         // qmgr "QID: removed"
  kExpired,         // qmgr "QID: from=<...>, status=expired, returned to sender"
  kBounce,          // bounce "QID: sender non-delivery notification: NEWQID" (and delay/success)
  kReject,          // smtpd/cleanup "NOQUEUE: reject: ..." or "QID: reject: ..." / milter-reject
  kHold,            // cleanup "QID: hold: ..." / postsuper "placed on hold"
  kRelease,         // postsuper "QID: released from hold"
  kRequeue,         // postsuper "QID: requeued"
  kDelete,          // postsuper "QID: removed" / "Deleted: N messages"
  kTls,             // "... TLS connection established to/from ..."
  kSaslFailure,     // smtpd "warning: host[ip]: SASL LOGIN authentication failed: ..."
  kPostscreen,      // postscreen verdicts (PASS NEW, DNSBL rank, PREGREET, ...)
  kStatistics,      // anvil / scache / postscreen cache statistics
  kDaemon,          // master / postfix-script start, stop, reload
  kDovecotLogin,    // imap-login/pop3-login: Login: user=<...>
  kDovecotAuthFailure,  // auth failures: imap-login Disconnected (auth failed), passwd-file
                        // mismatch
  kDovecotDelivery,     // lmtp(user): msgid=<...>: saved mail to INBOX (or failed)
  kDovecotDisconnect,   // imap(user): Disconnected / Logged out
  kWarning,             // a warning/error/fatal/panic line with no more structure (see severity)
  kRemoteReply,         // smtp/lmtp "QID: host X[ip] said: ...", lost connection, timeouts
  kConnectFailure,      // smtp/lmtp "connect to X[ip]:25: Connection refused" and the like
  kHeaderAction,        // cleanup "QID: warning|info|replace|redirect|discard|filter: header ..."
  kCount,
};
std::string_view KindName(Kind kind);

enum class Severity : uint8_t { kInfo = 0, kWarning, kError, kFatal, kPanic };
std::string_view SeverityName(Severity s);

// Every field of an event but the line itself: plain values, so clearing them is one copy.
struct LogFields {
  int64_t time_us = 0;  // UTC microseconds; 0 when the line had no readable timestamp
  Span host;            // syslog host field; empty for Dovecot's own log and postlogd
  Span program;         // "postfix/smtpd", "postfix-h1/smtpd", "dovecot", "imap-login", ...
  Span service;         // the daemon: "smtpd", "qmgr", "lmtp", "imap-login", "auth", ...
  int32_t pid = 0;
  Kind kind = Kind::kOther;
  Severity severity = Severity::kInfo;
  Span message;  // the payload after "prog[pid]: "

  Span queue_id;                // short (hex) or long form; "NOQUEUE" is left empty
  Span client_host, client_ip;  // client=, connect from, reject ... from
  uint16_t client_port = 0;
  Span from, to, orig_to;     // envelope addresses without <>
  Span relay_host, relay_ip;  // relay=host[ip]:port ("none" leaves both empty; "local" host)
  uint16_t relay_port = 0;
  float delay = -1;                    // delay=, seconds; -1 when absent
  float delays[4] = {-1, -1, -1, -1};  // delays=a/b/c/d
  Span dsn;                            // 2.0.0
  Span status;                         // sent, deferred, bounced, expired, ...
  Span response;                       // the text in (...) after status=, or the reject text
  Span queued_as;                      // the downstream queue id in "queued as ID"
  Span message_id;                     // without <>
  int64_t size = -1;
  int32_t nrcpt = -1;
  Span sasl_method, sasl_username;
  Span reject_stage;  // RCPT, DATA, CONNECT, ... ("RCPT from" → RCPT)
  Span reject_code;   // "554 5.7.1"
  Span tls_protocol, tls_cipher;
  Span user;     // Dovecot user (or SASL user)
  Span method;   // Dovecot auth method
  Span result;   // Dovecot: "Login", "auth failed", "Password mismatch", ...
  Span session;  // Dovecot session id

  bool truncated = false;     // the line was longer than the cap and was cut
  bool invalid_utf8 = false;  // raw holds bytes that are not UTF-8, or NUL (kept as they are)
};

struct LogEvent : LogFields {
  std::string raw;  // the line, without its newline (bounded by the caller)

  std::string_view Get(Span s) const { return std::string_view(raw).substr(s.pos, s.len); }
  // Resets every field and keeps raw's buffer for reuse.
  void Clear();
};

// Every Span field with its stored name, in a fixed order: the wire format (LogEvent.spans)
// and the events table's columns follow it. Append only.
struct SpanField {
  std::string_view name;
  Span LogEvent::*member;
};
inline constexpr SpanField kSpanFields[] = {
    {"host", &LogEvent::host},
    {"program", &LogEvent::program},
    {"service", &LogEvent::service},
    {"message", &LogEvent::message},
    {"queue_id", &LogEvent::queue_id},
    {"client_host", &LogEvent::client_host},
    {"client_ip", &LogEvent::client_ip},
    {"sender", &LogEvent::from},
    {"recipient", &LogEvent::to},
    {"orig_to", &LogEvent::orig_to},
    {"relay_host", &LogEvent::relay_host},
    {"relay_ip", &LogEvent::relay_ip},
    {"dsn", &LogEvent::dsn},
    {"status", &LogEvent::status},
    {"response", &LogEvent::response},
    {"queued_as", &LogEvent::queued_as},
    {"message_id", &LogEvent::message_id},
    {"sasl_method", &LogEvent::sasl_method},
    {"sasl_username", &LogEvent::sasl_username},
    {"reject_stage", &LogEvent::reject_stage},
    {"reject_code", &LogEvent::reject_code},
    {"tls_protocol", &LogEvent::tls_protocol},
    {"tls_cipher", &LogEvent::tls_cipher},
    {"dovecot_user", &LogEvent::user},
    {"method", &LogEvent::method},
    {"result", &LogEvent::result},
    {"session", &LogEvent::session},
};
inline constexpr size_t kSpanFieldCount = std::size(kSpanFields);

}  // namespace mailfleet::parse
