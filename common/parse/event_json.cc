#include "common/parse/event_json.h"

#include <ctime>

#include "common/parse/utf8.h"
#include "fmt/format.h"

namespace mailfleet::parse {
namespace {

class Object {
 public:
  explicit Object(std::string* out) : out_(out) { out_->push_back('{'); }
  ~Object() { out_->push_back('}'); }

  void Str(std::string_view key, std::string_view value) {
    Key(key);
    AppendJsonString(value, out_);
  }
  void Span(const LogEvent& e, std::string_view key, parse::Span span) {
    if (!span.empty()) Str(key, e.Get(span));
  }
  void Int(std::string_view key, int64_t value) {
    Key(key);
    fmt::format_to(std::back_inserter(*out_), "{}", value);
  }
  void Float(std::string_view key, float value) {
    Key(key);
    fmt::format_to(std::back_inserter(*out_), "{}", value);
  }
  void Bool(std::string_view key, bool value) {
    Key(key);
    out_->append(value ? "true" : "false");
  }
  void Raw(std::string_view key, std::string_view json) {
    Key(key);
    out_->append(json);
  }

 private:
  void Key(std::string_view key) {
    if (!first_) out_->push_back(',');
    first_ = false;
    out_->push_back('"');
    out_->append(key);
    out_->append("\":");
  }
  std::string* out_;
  bool first_ = true;
};

}  // namespace

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = Utf8SequenceLength(s, i);
      if (len == 0) {
        out->append("\xEF\xBF\xBD");  // U+FFFD
        ++i;
      } else {
        out->append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          fmt::format_to(std::back_inserter(*out), "\\u{:04x}", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

std::string FormatTimeUs(int64_t time_us) {
  if (time_us == 0) return "";
  std::time_t secs = static_cast<std::time_t>(time_us / 1'000'000);
  int64_t micros = time_us % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
}

void AppendEventJson(const LogEvent& e, std::string* out) {
  Object o(out);
  if (e.time_us != 0) o.Str("time", FormatTimeUs(e.time_us));
  o.Span(e, "host", e.host);
  o.Span(e, "program", e.program);
  o.Span(e, "service", e.service);
  if (e.pid != 0) o.Int("pid", e.pid);
  o.Str("kind", KindName(e.kind));
  o.Str("severity", SeverityName(e.severity));
  o.Span(e, "queue_id", e.queue_id);
  o.Span(e, "client_host", e.client_host);
  o.Span(e, "client_ip", e.client_ip);
  if (e.client_port != 0) o.Int("client_port", e.client_port);
  o.Span(e, "sender", e.from);
  o.Span(e, "recipient", e.to);
  o.Span(e, "orig_to", e.orig_to);
  o.Span(e, "relay_host", e.relay_host);
  o.Span(e, "relay_ip", e.relay_ip);
  if (e.relay_port != 0) o.Int("relay_port", e.relay_port);
  if (e.delay >= 0) o.Float("delay", e.delay);
  if (e.delays[0] >= 0) {
    o.Raw("delays",
          fmt::format("[{},{},{},{}]", e.delays[0], e.delays[1], e.delays[2], e.delays[3]));
  }
  o.Span(e, "dsn", e.dsn);
  o.Span(e, "status", e.status);
  o.Span(e, "response", e.response);
  o.Span(e, "queued_as", e.queued_as);
  o.Span(e, "message_id", e.message_id);
  if (e.size >= 0) o.Int("size", e.size);
  if (e.nrcpt >= 0) o.Int("nrcpt", e.nrcpt);
  o.Span(e, "sasl_method", e.sasl_method);
  o.Span(e, "sasl_username", e.sasl_username);
  o.Span(e, "reject_stage", e.reject_stage);
  o.Span(e, "reject_code", e.reject_code);
  o.Span(e, "tls_protocol", e.tls_protocol);
  o.Span(e, "tls_cipher", e.tls_cipher);
  o.Span(e, "dovecot_user", e.user);
  o.Span(e, "method", e.method);
  o.Span(e, "result", e.result);
  o.Span(e, "session", e.session);
  if (e.truncated) o.Bool("truncated", true);
  if (e.invalid_utf8) o.Bool("invalid_utf8", true);
  o.Str("raw", e.raw);
}

}  // namespace mailfleet::parse
