#include "common/parse/parser.h"

#include <array>
#include <bit>
#include <charconv>
#include <cstring>
#include <ctime>
#include <limits>
#include <type_traits>
#include <utility>

#include "common/parse/find.h"
#include "common/parse/utf8.h"

namespace mailfleet::parse {
namespace {

using sv = std::string_view;

constexpr std::array<sv, static_cast<size_t>(Kind::kCount)> kKindNames = {
    "other",
    "connect",
    "disconnect",
    "lost_connection",
    "client",
    "pickup",
    "message_id",
    "queued",
    "delivery",
    "removed",
    "expired",
    "bounce",
    "reject",
    "hold",
    "release",
    "requeue",
    "delete",
    "tls",
    "sasl_failure",
    "postscreen",
    "statistics",
    "daemon",
    "dovecot_login",
    "dovecot_auth_failure",
    "dovecot_delivery",
    "dovecot_disconnect",
    "warning",
    "remote_reply",
    "connect_failure",
    "header_action",
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpperHex(char c) { return IsDigit(c) || (c >= 'A' && c <= 'F'); }
bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// The first byte is compared inline: in the long chains of prefixes a line is tried against,
// most candidates fail there, without a call to memcmp.
[[gnu::always_inline]] inline bool StartsWith(sv s, sv p) {
  return s.size() >= p.size() && (p.empty() || s[0] == p[0]) &&
         std::memcmp(s.data(), p.data(), p.size()) == 0;
}
// a == b, with the length of a literal b known where it is inlined: the comparison then
// compiles to a few loads, where operator== calls memcmp.
[[gnu::always_inline]] inline bool Is(sv a, sv b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), b.size()) == 0;
}
[[gnu::always_inline]] inline bool EndsWith(sv s, sv p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}
[[gnu::always_inline]] inline bool Consume(sv& s, sv p) {
  if (!StartsWith(s, p)) return false;
  s.remove_prefix(p.size());
  return true;
}

// Whether the N bytes at a and b are the same, N known at compile time, in two overlapping
// loads from each: GCC calls memcmp for any constant size above 3 bytes.
template <size_t N>
[[gnu::always_inline]] inline bool SameBytes(const char* a, const char* b) {
  static_assert(N >= 4 && N <= 16);
  using Word = std::conditional_t<(N >= 8), uint64_t, uint32_t>;
  constexpr size_t kTail = N - sizeof(Word);
  Word a0, a1, b0, b1;
  std::memcpy(&a0, a, sizeof(Word));
  std::memcpy(&b0, b, sizeof(Word));
  std::memcpy(&a1, a + kTail, sizeof(Word));
  std::memcpy(&b1, b + kTail, sizeof(Word));
  return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

// The whole of s as a number of type T. Plain digits (pids, ports, sizes) are read inline;
// signs and very long digit strings go through from_chars.
template <typename T>
bool ToNumber(sv s, T* out) {
  if (s.empty()) return false;
  if (s.size() <= 18 && IsDigit(s[0])) {
    uint64_t v = 0;
    for (char c : s) {
      if (!IsDigit(c)) return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    *out = static_cast<T>(v);
    return true;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// ToNumber for s inside a buffer that starts at `begin`: up to 8 digits are read at once,
// as one 8-byte word ending where s ends (the bytes before s in the buffer are read but not
// used), when the buffer has 8 bytes there.
template <typename T>
[[gnu::always_inline]] inline bool ToNumberIn(sv s, const char* begin, T* out) {
  const size_t n = s.size();
  if (std::endian::native == std::endian::little && n - 1 < 8 && s.data() + n >= begin + 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + n - 8, 8);
    // Little-endian: s is the top n bytes; the bytes below it become '0', leading zeros.
    const unsigned pad = static_cast<unsigned>(8 * (8 - n));
    const uint64_t below = (uint64_t{1} << pad) - 1;
    w = (w & ~below) | (0x3030303030303030ull & below);
    // Every byte a digit: 0x30..0x39, that is high nibble 3 and, after adding 6, still 3.
    if ((w & 0xF0F0F0F0F0F0F0F0ull) == 0x3030303030303030ull &&
        ((w + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) == 0x3030303030303030ull) {
      w -= 0x3030303030303030ull;
      w = w * 10 + (w >> 8);  // pairs of digits
      w = (((w & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
           (((w >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >>
          32;
      if (w > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
      *out = static_cast<T>(w);
      return true;
    }
  }
  return ToNumber(s, out);
}

// A small float parser for "0.04" style values: from_chars for floats is not in GCC 12's
// libstdc++ for every target, and these values are short and simple.
bool ToFloat(sv s, float* out) {
  if (s.empty()) return false;
  double whole = 0, frac = 0, scale = 1;
  size_t i = 0;
  bool digits = false;
  for (; i < s.size() && IsDigit(s[i]); ++i) whole = whole * 10 + (s[i] - '0'), digits = true;
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && IsDigit(s[i]); ++i) {
      frac = frac * 10 + (s[i] - '0');
      scale *= 10;
      digits = true;
    }
  }
  if (!digits || i != s.size()) return false;
  *out = static_cast<float>(whole + frac / scale);
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int MonthFromName(sv s) {
  static constexpr sv kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 3) return 0;
  for (int i = 0; i < 12; ++i) {
    if (s == kMonths[i]) return i + 1;
  }
  return 0;
}

bool TwoDigits(sv s, size_t at, int* out) {
  if (at + 2 > s.size() || !IsDigit(s[at]) || !IsDigit(s[at + 1])) return false;
  *out = (s[at] - '0') * 10 + (s[at + 1] - '0');
  return true;
}

[[gnu::always_inline]] inline int ThreeDigits(const char* p) {
  return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

// "SS[.ffffff]" at the start of s, the seconds of a clock: returns them in micros and
// consumes them.
[[gnu::always_inline]] inline bool ParseSeconds(sv& s, int64_t* micros) {
  int sec;
  if (!TwoDigits(s, 0, &sec) || sec > 60) return false;
  const int64_t us = sec * int64_t{1'000'000};
  if (s.size() >= 9 && s[2] == '.' && IsDigit(s[3]) && IsDigit(s[4]) && IsDigit(s[5]) &&
      IsDigit(s[6]) && IsDigit(s[7]) && IsDigit(s[8]) && (s.size() == 9 || !IsDigit(s[9]))) {
    // Microseconds, the usual case (rsyslog's high-precision format), without a loop.
    *micros = us + ThreeDigits(s.data() + 3) * 1000 + ThreeDigits(s.data() + 6);
    s.remove_prefix(9);
    return true;
  }
  size_t i = 2;
  int64_t frac = 0;
  if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
    int digits = 0;
    for (++i; i < s.size() && IsDigit(s[i]); ++i, ++digits) {
      if (digits < 6) frac = frac * 10 + (s[i] - '0');
    }
    for (int d = digits; d < 6; ++d) frac *= 10;
  }
  *micros = us + frac;
  s.remove_prefix(i);
  return true;
}

// "HH:MM:SS[.ffffff]" at the start of s; returns micros since midnight and consumes it.
bool ParseClock(sv& s, int64_t* micros) {
  int h, m;
  if (s.size() < 8 || s[2] != ':' || s[5] != ':' || !TwoDigits(s, 0, &h) || !TwoDigits(s, 3, &m) ||
      h > 23 || m > 59) {
    return false;
  }
  sv rest = s.substr(6);
  int64_t seconds_us;
  if (!ParseSeconds(rest, &seconds_us)) return false;
  *micros = (h * 60 + m) * int64_t{60'000'000} + seconds_us;
  s = rest;
  return true;
}

void SkipSpaces(sv& s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
}

sv Token(sv& s) {  // up to the next space; consumes the token and the spaces after it
  size_t n = Find(s, ' ');
  sv t = s.substr(0, n);
  s.remove_prefix(n == sv::npos ? s.size() : n);
  SkipSpaces(s);
  return t;
}

bool EqualsIgnoreCase(sv a, sv b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A Dovecot process name, possibly with its "(user)" or "(pid)" tag.
bool IsDovecotService(sv program) {
  sv name = program.substr(0, std::min(Find(program, '('), Find(program, '<')));
  static constexpr sv kNames[] = {"auth",          "auth-worker",
                                  "dovecot-auth",  "imap-login",
                                  "pop3-login",    "imap",
                                  "pop3",          "lmtp",
                                  "lda",           "deliver",
                                  "managesieve",   "managesieve-login",
                                  "submission",    "submission-login",
                                  "indexer-worker"};
  for (sv n : kNames) {
    if (EqualsIgnoreCase(name, n)) return true;
  }
  return false;
}

bool IsQueueId(sv s) {
  if (s.size() < 5 || s.size() > 32) return false;
  bool hex = true;
  for (char c : s) hex = hex && IsUpperHex(c);
  if (hex) return true;
  if (s.size() < 10 || Find(s, 'z') == sv::npos) return false;
  for (char c : s) {
    if (!IsAlnum(c)) return false;
    switch (c) {
      case 'A':
      case 'E':
      case 'I':
      case 'O':
      case 'U':
      case 'a':
      case 'e':
      case 'i':
      case 'o':
      case 'u':
        return false;
      default:
        break;
    }
  }
  return true;
}

// Fills LogEvent fields; every Span is relative to event.raw.
class LineParser {
 public:
  LineParser(LogEvent* e, int ref_year, int ref_month, StampCache* stamp_cache)
      : e_(e),
        raw_(e->raw),
        ref_year_(ref_year),
        ref_month_(ref_month),
        stamp_cache_(stamp_cache) {}

  void Run() {
    sv s(e_->raw);  // not raw_: a copy of the member would be stored and reloaded at once
    if (!ParsePrefix(s)) {
      e_->message = Sp(s);
      return;
    }
    e_->message = Sp(s);
    sv program = e_->Get(e_->program);
    if (StartsWith(program, "postfix")) {
      Postfix(s);
    } else if (Is(program, "dovecot")) {
      DovecotSyslog(s);
    } else if (dovecot_own_log_) {
      DovecotPayload(s, e_->Get(e_->service));
    } else if (IsDovecotService(program)) {
      // Dovecot logging to syslog under its process names: "auth: ...", "deliver(user): ..."
      ServiceTag(program);
      Level(s);
      e_->message = Sp(s);
      DovecotPayload(s, e_->Get(e_->service));
    }
  }

 private:
  template <typename T>
  bool Number(sv part, T* out) const {
    return ToNumberIn(part, raw_.data(), out);
  }

  Span Sp(sv part) const {
    if (part.empty()) return {};
    return {static_cast<uint32_t>(part.data() - raw_.data()), static_cast<uint32_t>(part.size())};
  }

  // ---- prefixes -------------------------------------------------------------------------

  bool ParsePrefix(sv& s) {
    if (StartsWith(s, "<")) {  // a raw syslog priority, e.g. "<22>"
      size_t close = Find(s, '>');
      if (close != sv::npos && close <= 4) s.remove_prefix(close + 1);
    }
    sv before = s;
    bool stamped =
        s.size() >= 10 && IsDigit(s[0]) && s[4] == '-' && s[7] == '-' ? Iso8601(s) : Classic(s);
    if (!stamped) {
      // No readable timestamp (a template, a damaged line): find "host prog[pid]: " anyway.
      s = before;
      return Unstamped(s);
    }
    SkipSpaces(s);
    // Either "host prog[pid]: " or, in Dovecot's own log, "prog: ".
    sv first = s.substr(0, Find(s, ' '));
    if (!first.empty() && first.back() == ':') {
      return DovecotOwnPrefix(s);
    }
    e_->host = Sp(first);
    s.remove_prefix(first.size());
    SkipSpaces(s);
    return Program(s);
  }

  // Skips up to four tokens to reach "host program[pid]: " or "host postfix/x: ".
  bool Unstamped(sv& s) {
    sv probe = s;
    for (int i = 0; i < 4 && !probe.empty(); ++i) {
      sv host = Token(probe);
      sv next = probe.substr(0, Find(probe, ' '));
      bool program_like =
          next.size() > 1 && next.back() == ':' &&
          (Find(next, '[') != sv::npos || Find(next, '/') != sv::npos || Is(next, "dovecot:"));
      if (program_like && !host.empty()) {
        e_->host = Sp(host);
        s = probe;
        return Program(s);
      }
    }
    return false;
  }

  bool Classic(sv& s) {
    // "Nov 29 00:54:25 ": consecutive lines mostly share their second.
    constexpr size_t kStamp = sizeof(stamp_cache_->stamp);
    if (s.size() > kStamp && s[kStamp] == ' ' && stamp_cache_->time_us != 0 &&
        SameBytes<kStamp>(s.data(), stamp_cache_->stamp)) {
      e_->time_us = stamp_cache_->time_us;
      s.remove_prefix(kStamp);
      return true;
    }
    const sv whole = s;
    int month = MonthFromName(s.substr(0, 3));
    if (month == 0 || s.size() < 4 || s[3] != ' ') return false;
    s.remove_prefix(4);
    SkipSpaces(s);
    sv day_token = Token(s);
    int day = 0;
    bool day_ok = Number(day_token, &day) && day >= 1 && day <= 31;
    int64_t clock_us;
    if (!ParseClock(s, &clock_us)) return false;
    if (day_ok) {
      int year = ref_year_;
      if (month > ref_month_ + 1) --year;  // December's lines read in January
      e_->time_us = (DaysFromCivil(year, month, day) * 86400) * 1'000'000 + clock_us;
      if (whole.size() - s.size() == kStamp && !s.empty() && s[0] == ' ') {
        std::memcpy(stamp_cache_->stamp, whole.data(), kStamp);
        stamp_cache_->time_us = e_->time_us;
      }
    }
    return true;
  }

  bool Iso8601(sv& s) {
    if (s.size() < 11 || (s[10] != 'T' && s[10] != ' ')) return false;
    StampCache& cache = *stamp_cache_;
    // "2023-03-14T00:00": consecutive lines mostly share their minute, and their zone.
    constexpr size_t kMinute = sizeof(cache.iso_minute);
    int64_t local_us;  // before the zone's offset
    if (cache.iso_minute_valid && s.size() > kMinute && s[kMinute] == ':' &&
        SameBytes<kMinute>(s.data(), cache.iso_minute)) {
      sv rest = s.substr(kMinute + 1);
      int64_t seconds_us;
      if (!ParseSeconds(rest, &seconds_us)) return false;
      local_us = cache.iso_minute_us + seconds_us;
      s = rest;
    } else {
      int y = 0, mo, d;
      if (!Number(s.substr(0, 4), &y) || !TwoDigits(s, 5, &mo) || !TwoDigits(s, 8, &d)) {
        return false;
      }
      const int64_t days = DaysFromCivil(y, mo, d);
      const sv whole = s;
      s.remove_prefix(11);
      int64_t clock_us;
      if (!ParseClock(s, &clock_us)) return false;
      local_us = days * int64_t{86'400'000'000} + clock_us;
      int h = 0, m = 0;  // read by ParseClock already
      TwoDigits(whole, 11, &h);
      TwoDigits(whole, 14, &m);
      std::memcpy(cache.iso_minute, whole.data(), kMinute);
      cache.iso_minute_us = days * int64_t{86'400'000'000} + (h * 60 + m) * int64_t{60'000'000};
      cache.iso_minute_valid = true;
    }
    int64_t offset_s = 0;
    constexpr size_t kZone = sizeof(cache.zone);  // "+01:00"
    if (cache.zone_valid && s.size() >= kZone && SameBytes<kZone>(s.data(), cache.zone)) {
      offset_s = cache.zone_offset_s;
      s.remove_prefix(kZone);
    } else if (Consume(s, "Z")) {
    } else if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
      int oh = 0, om = 0;
      int sign = s[0] == '-' ? -1 : 1;
      if (!TwoDigits(s, 1, &oh)) return false;
      size_t at = 3;
      if (at < s.size() && s[at] == ':') ++at;
      if (!TwoDigits(s, at, &om)) return false;
      offset_s = sign * (oh * 3600 + om * 60);
      if (at + 2 == kZone) {
        std::memcpy(cache.zone, s.data(), kZone);
        cache.zone_offset_s = offset_s;
        cache.zone_valid = true;
      }
      s.remove_prefix(at + 2);
    }
    e_->time_us = local_us - offset_s * 1'000'000;
    return true;
  }

  // "postfix/smtpd[123]: rest" (pid optional).
  [[gnu::always_inline]] bool Program(sv& s) {
    // The tag ends at the first ": ", which is where the first space is, after a colon.
    size_t end = Find(s, ' ');
    if (end != sv::npos) {
      if (end == 0 || s[end - 1] != ':') return false;
      --end;
    } else if (EndsWith(s, ":")) {  // "prog[pid]:" at the very end of the line
      end = s.size() - 1;
    } else {
      return false;
    }
    sv tag = s.substr(0, end);
    s.remove_prefix(std::min(end + 2, s.size()));
    size_t bracket = Find(tag, '[');
    sv program = tag.substr(0, bracket);
    if (bracket != sv::npos && EndsWith(tag, "]")) {
      Number(tag.substr(bracket + 1, tag.size() - bracket - 2), &e_->pid);
    }
    e_->program = Sp(program);
    size_t slash = FindLast(program, '/');
    e_->service = Sp(slash == sv::npos ? program : program.substr(slash + 1));
    return true;
  }

  // Dovecot's own log_path: "lmtp(alice)<8486><sess>: Info: msg", "master: Info: msg".
  bool DovecotOwnPrefix(sv& s) {
    size_t end = Find(s, ": ");
    if (end == sv::npos) return false;
    sv tag = s.substr(0, end);
    s.remove_prefix(end + 2);
    e_->program = Sp(tag);
    dovecot_own_log_ = true;
    ServiceTag(tag);
    Level(s);
    return true;
  }

  // "lmtp(alice)<8486><sess>" → service lmtp, user alice (or pid), session.
  void ServiceTag(sv tag) {
    size_t paren = Find(tag, '(');
    size_t angle = Find(tag, '<');
    size_t name_end = std::min(paren, angle);
    e_->service = Sp(tag.substr(0, name_end));
    if (paren != sv::npos) {
      size_t close = Find(tag, ')', paren);
      if (close != sv::npos) {
        sv inside = tag.substr(paren + 1, close - paren - 1);
        int32_t pid;
        if (Number(inside, &pid)) {
          e_->pid = pid;
        } else {
          e_->user = Sp(inside);
        }
      }
    }
    // The last <...> is the session id; a leading <pid> may come before it.
    size_t last_open = FindLast(tag, '<');
    if (last_open != sv::npos && EndsWith(tag, ">")) {
      sv inner = tag.substr(last_open + 1, tag.size() - last_open - 2);
      int32_t pid;
      if (Number(inner, &pid)) {
        e_->pid = pid;
      } else {
        e_->session = Sp(inner);
        size_t first_open = Find(tag, '<');
        if (first_open != last_open) {
          Number(tag.substr(first_open + 1, Find(tag, '>', first_open) - first_open - 1), &e_->pid);
        }
      }
    }
  }

  // Dovecot's "Info: ", "Error: " ... after the service tag.
  void Level(sv& s) {
    static constexpr std::pair<sv, Severity> kLevels[] = {
        {"Info: ", Severity::kInfo},       {"Debug: ", Severity::kInfo},
        {"Warning: ", Severity::kWarning}, {"Error: ", Severity::kError},
        {"Fatal: ", Severity::kFatal},     {"Panic: ", Severity::kPanic}};
    for (const auto& [word, sev] : kLevels) {
      if (Consume(s, word)) {
        e_->severity = sev;
        return;
      }
    }
  }

  // ---- Postfix --------------------------------------------------------------------------

  [[gnu::always_inline]] bool PostfixSeverity(sv& s) {
    static constexpr std::pair<sv, Severity> kSeverities[] = {{"warning: ", Severity::kWarning},
                                                              {"error: ", Severity::kError},
                                                              {"fatal: ", Severity::kFatal},
                                                              {"panic: ", Severity::kPanic}};
    if (s.empty() || s[0] < 'e' || s[0] > 'w') return false;  // most messages: one test
    for (const auto& [word, severity] : kSeverities) {
      if (Consume(s, word)) {
        e_->severity = severity;
        return true;
      }
    }
    return false;
  }

  void Postfix(sv s) {
    sv service = e_->Get(e_->service);
    if (PostfixSeverity(s)) {
      PostfixWarning(s, service);
      return;
    }
    // "QID: rest" or "NOQUEUE: rest": the first word, ending in a colon.
    size_t colon = Find(s, ' ');
    if (colon != sv::npos && colon > 0 && s[colon - 1] == ':') {
      --colon;
      sv head = s.substr(0, colon);
      if (Is(head, "NOQUEUE")) {
        s.remove_prefix(colon + 2);
        QueueLine(s, service);
        return;
      }
      if (IsQueueId(head)) {
        e_->queue_id = Sp(head);
        s.remove_prefix(colon + 2);
        if (PostfixSeverity(s)) {
          if (!HeaderAction(s)) e_->kind = Kind::kWarning;
          return;
        }
        QueueLine(s, service);
        return;
      }
    }
    NoQueueLine(s, service);
  }

  void PostfixWarning(sv s, sv service) {
    e_->kind = Kind::kWarning;
    // "warning: 9BECF3F19D: sender_canonical_maps map lookup problem ..."
    size_t colon = Find(s, ": ");
    if (colon != sv::npos && IsQueueId(s.substr(0, colon))) e_->queue_id = Sp(s.substr(0, colon));
    // "warning: host[ip]: SASL LOGIN authentication failed: ..."
    size_t sasl = Find(s, ": SASL ");
    if (sasl != sv::npos && Find(s, " authentication failed", sasl) != sv::npos) {
      sv client = s.substr(0, sasl);
      if (ClientHostIp(client, &e_->client_host, &e_->client_ip, &e_->client_port)) {
        e_->kind = Kind::kSaslFailure;
        sv rest = s.substr(sasl + 7);
        e_->sasl_method = Sp(rest.substr(0, Find(rest, ' ')));
        size_t reason = Find(rest, "failed: ");
        if (reason != sv::npos) e_->response = Sp(rest.substr(reason + 8));
        size_t user = Find(rest, "sasl_username=");
        if (user != sv::npos) e_->sasl_username = Sp(UpTo(rest.substr(user + 14), ','));
      }
      return;
    }
    if ((Is(service, "smtp") || Is(service, "lmtp")) && ConnectFailure(s)) return;
    PeerInText(s, Is(service, "smtp") || Is(service, "lmtp"));
  }

  // "... from host[ip]: ..." (a client) or "... for host[ip]:25" / "to host[ip]:25" (a relay).
  void PeerInText(sv s, bool outgoing) {
    for (sv word : {sv(" from "), sv(" for "), sv(" to "), sv(" with ")}) {
      size_t at = Find(s, word);
      while (at != sv::npos) {
        sv peer = s.substr(at + word.size());
        peer = peer.substr(0, Find(peer, ' '));
        while (!peer.empty() && (peer.back() == ':' || peer.back() == ',' || peer.back() == ';')) {
          peer.remove_suffix(1);
        }
        if (Find(peer, '[') != sv::npos && Find(peer, ']') != sv::npos) {
          if (outgoing && !Is(word, " from ")) {
            ClientHostIp(peer, &e_->relay_host, &e_->relay_ip, &e_->relay_port);
          } else {
            ClientHostIp(peer, &e_->client_host, &e_->client_ip, &e_->client_port);
          }
          return;
        }
        at = Find(s, word, at + 1);
      }
    }
  }

  // "host[ip]" or "host[ip]:port"; false unless it has that shape.
  bool ClientHostIp(sv text, Span* host, Span* ip, uint16_t* port) {
    size_t open = Find(text, '[');
    if (open == sv::npos) return false;
    size_t close = Find(text, ']', open);
    if (close == sv::npos) return false;
    *host = Sp(text.substr(0, open));
    *ip = Sp(text.substr(open + 1, close - open - 1));
    sv after = text.substr(close + 1);
    if (Consume(after, ":") && port != nullptr) {
      Number(UpTo(after, ' '), port);
    }
    return true;
  }

  static sv UpTo(sv s, char c) { return s.substr(0, Find(s, c)); }

  // <addr> (brackets stripped); the value may be empty ("<>").
  static sv Angle(sv s) {
    if (StartsWith(s, "<")) {
      size_t close = Find(s, '>');
      return close == sv::npos ? s.substr(1) : s.substr(1, close - 1);
    }
    return s;
  }

  bool ConnectFailure(sv s) {
    // "connect to host[ip]:25: Connection refused"
    if (!Consume(s, "connect to ")) return false;
    size_t colon = Find(s, "]:");
    size_t reason = Find(s, ": ", colon == sv::npos ? 0 : colon + 2);
    if (reason == sv::npos) return false;
    ClientHostIp(s.substr(0, reason), &e_->relay_host, &e_->relay_ip, &e_->relay_port);
    e_->response = Sp(s.substr(reason + 2));
    e_->kind = Kind::kConnectFailure;
    return true;
  }

  // Lines that start with "QID: " (or "NOQUEUE: ").
  void QueueLine(sv s, sv service) {
    if (StartsWith(s, "to=<") || StartsWith(s, "to=")) {
      Delivery(s);
    } else if (StartsWith(s, "client=")) {
      e_->kind = Kind::kClient;
      KeyValues(s);
    } else if (StartsWith(s, "message-id=")) {
      e_->kind = Kind::kMessageId;
      sv v = s.substr(11);
      e_->message_id = Sp(Angle(v));
    } else if (StartsWith(s, "resent-message-id=")) {
      e_->kind = Kind::kMessageId;
      e_->message_id = Sp(Angle(s.substr(18)));
    } else if (StartsWith(s, "from=")) {
      KeyValues(s);
      sv status = e_->Get(e_->status);
      e_->kind = Is(status, "expired") ? Kind::kExpired : Kind::kQueued;
    } else if (StartsWith(s, "uid=")) {
      e_->kind = Kind::kPickup;
      KeyValues(s);
    } else if (Is(s, "removed")) {
      e_->kind = Is(service, "postsuper") ? Kind::kDelete : Kind::kRemoved;
    } else if (Is(s, "placed on hold")) {
      e_->kind = Kind::kHold;
    } else if (Is(s, "released from hold")) {
      e_->kind = Kind::kRelease;
    } else if (Is(s, "requeued")) {
      e_->kind = Kind::kRequeue;
    } else if (Consume(s, "reject: ") || Consume(s, "milter-reject: ") ||
               Consume(s, "proxy-reject: ")) {
      Reject(s);
    } else if (Consume(s, "proxy-accept: ")) {
      Reject(s);  // same shape: "STAGE: 250 ... queued as ID; from=<a> to=<b> ..."
      e_->kind = Kind::kRemoteReply;
      e_->reject_code = {};
      e_->reject_stage = {};
    } else if (StartsWith(s, "milter-header-") || StartsWith(s, "milter-body-")) {
      HeaderAction(s);
    } else if (Consume(s, "hold: ")) {
      e_->kind = Kind::kHold;
      ActionDetails(s);
    } else if (StartsWith(s, "discard: ") || StartsWith(s, "filter: ") ||
               StartsWith(s, "redirect: ") || StartsWith(s, "replace: ") ||
               StartsWith(s, "info: ") || StartsWith(s, "prepend: ") ||
               StartsWith(s, "reject_warning: ") || StartsWith(s, "warning: ")) {
      HeaderAction(s);
    } else if (NotificationLine(s)) {
    } else if (StartsWith(s, "host ") || StartsWith(s, "lost connection with ") ||
               StartsWith(s, "conversation with ") || StartsWith(s, "enabling PIX") ||
               StartsWith(s, "Protocol error: ") || StartsWith(s, "SASL authentication failed")) {
      RemoteReply(s);
    } else if (StartsWith(s, "lost connection after ") || StartsWith(s, "timeout after ")) {
      e_->kind = Kind::kLostConnection;
      FromClient(s);
    } else if (Is(service, "postscreen") || Is(service, "dnsblog")) {
      e_->kind = Kind::kPostscreen;
    }
  }

  // bounce: "sender non-delivery notification: NEWQID"
  bool NotificationLine(sv s) {
    size_t at = Find(s, " notification: ");
    if (at == sv::npos || at > 40) return false;
    sv id = s.substr(at + 15);
    if (!IsQueueId(id)) return false;
    e_->kind = Kind::kBounce;
    e_->queued_as = Sp(id);
    e_->status = Sp(s.substr(0, at));
    return true;
  }

  bool HeaderAction(sv s) {
    // "warning: header Subject: x from host[ip]; from=<a> to=<b> proto=ESMTP helo=<h>: text"
    size_t colon = Find(s, ": ");
    if (colon == sv::npos) return false;
    e_->kind = Kind::kHeaderAction;
    e_->status = Sp(s.substr(0, colon));
    ActionDetails(s.substr(colon + 2));
    return true;
  }

  // The tail shared by reject/hold/header actions: "... from host[ip]; from=<a> to=<b> ...".
  void ActionDetails(sv s) {
    size_t from_client = Find(s, " from ");
    size_t semi = Find(s, "; from=<");
    if (from_client != sv::npos && (semi == sv::npos || from_client < semi)) {
      sv client = s.substr(from_client + 6, semi == sv::npos ? sv::npos : semi - from_client - 6);
      ClientHostIp(client, &e_->client_host, &e_->client_ip, &e_->client_port);
    }
    if (semi != sv::npos) TrailingEnvelope(s.substr(semi + 2));
  }

  // "from=<a> to=<b> proto=ESMTP helo=<h>" (space or ", " separated); a ": text" after helo
  // is the response.
  void TrailingEnvelope(sv s) {
    while (!s.empty()) {
      if (Consume(s, "from=")) {
        e_->from = Sp(Angle(s));
      } else if (Consume(s, "to=")) {
        e_->to = Sp(Angle(s));
      } else if (Consume(s, "orig_to=")) {
        e_->orig_to = Sp(Angle(s));
      }
      // Skip this value: an <...> may contain spaces.
      if (StartsWith(s, "<")) {
        size_t close = Find(s, '>');
        s.remove_prefix(close == sv::npos ? s.size() : close + 1);
        if (Consume(s, ": ")) {
          if (e_->response.empty()) e_->response = Sp(s);
          return;
        }
      } else {
        size_t space = Find(s, ' ');
        if (space == sv::npos) return;
        s.remove_prefix(space);
      }
      while (!s.empty() && (s.front() == ' ' || s.front() == ',')) s.remove_prefix(1);
    }
  }

  // "RCPT from host[ip]: 554 5.7.1 <x>: Relay access denied; from=<a> to=<b> proto=ESMTP helo=<h>"
  void Reject(sv s) {
    e_->kind = Kind::kReject;
    sv stage = UpTo(s, ' ');
    sv rest = s.substr(stage.size());
    if (!stage.empty() && stage.back() == ':') {
      stage.remove_suffix(1);
      rest = s.substr(stage.size() + 1);
      Consume(rest, " ");
      rest = sv(rest.data() - 1, rest.size() + 1);  // keep the leading space for " from "
    }
    e_->reject_stage = Sp(stage);
    if (Consume(rest, " from ")) {
      size_t colon = Find(rest, ": ");
      if (colon != sv::npos) {
        ClientHostIp(rest.substr(0, colon), &e_->client_host, &e_->client_ip, &e_->client_port);
        rest.remove_prefix(colon + 2);
      }
    }
    // "554 5.7.1 text" → code "554 5.7.1"
    if (rest.size() >= 4 && IsDigit(rest[0]) && IsDigit(rest[1]) && IsDigit(rest[2]) &&
        rest[3] == ' ') {
      size_t code_end = 3;
      sv after = rest.substr(4);
      sv dsn = UpTo(after, ' ');
      if (dsn.size() >= 5 && IsDigit(dsn[0]) && dsn[1] == '.') {
        code_end = 4 + dsn.size();
        e_->dsn = Sp(dsn);
      }
      e_->reject_code = Sp(rest.substr(0, code_end));
    }
    size_t semi = rest.rfind("; from=<");
    if (semi == sv::npos) semi = rest.rfind("; to=<");
    e_->response = Sp(semi == sv::npos ? rest : rest.substr(0, semi));
    QueuedAs(rest);
    if (semi != sv::npos) TrailingEnvelope(rest.substr(semi + 2));
  }

  // "to=<a>, orig_to=<b>, relay=h[ip]:25, delay=1, delays=a/b/c/d, dsn=2.0.0, status=sent (...)"
  void Delivery(sv s) {
    e_->kind = Kind::kDelivery;
    KeyValues(s);
  }

  void RemoteReply(sv s) {
    e_->kind = Kind::kRemoteReply;
    e_->response = Sp(s);
    // "host mx.example[1.2.3.4] said: 450 ..." / "lost connection with mx[ip] while ..."
    size_t open = Find(s, '[');
    size_t close = Find(s, ']');
    if (open != sv::npos && close != sv::npos && close > open) {
      size_t start = s.rfind(' ', open);
      start = start == sv::npos ? 0 : start + 1;
      sv peer = s.substr(start);
      peer = peer.substr(0, Find(peer, ' '));
      while (!peer.empty() && (peer.back() == ':' || peer.back() == ',')) peer.remove_suffix(1);
      ClientHostIp(peer, &e_->relay_host, &e_->relay_ip, &e_->relay_port);
    }
  }

  // Parses ", "-separated key=value pairs; stops at "status=X (response)".
  void KeyValues(sv s) {
    while (!s.empty()) {
      size_t eq = Find(s, '=');
      if (eq == sv::npos) return;
      sv key = s.substr(0, eq);
      s.remove_prefix(eq + 1);
      if (Is(key, "status")) {
        sv status = UpTo(s, ' ');
        if (!status.empty() && status.back() == ',') status.remove_suffix(1);
        e_->status = Sp(status);
        s.remove_prefix(status.size());
        SkipSpaces(s);
        if (Consume(s, "(")) {
          if (EndsWith(s, ")")) s.remove_suffix(1);
          e_->response = Sp(s);
          QueuedAs(s);
        } else if (Consume(s, ", ")) {
          e_->response = Sp(s);  // "returned to sender"
        }
        return;
      }
      sv value;
      if (StartsWith(s, "<")) {
        size_t close = Find(s, '>');
        value = close == sv::npos ? s.substr(1) : s.substr(1, close - 1);
        s.remove_prefix(close == sv::npos ? s.size() : close + 1);
      } else {
        size_t end = std::min(Find(s, ','), Find(s, ' '));
        value = s.substr(0, end);
        s.remove_prefix(end == sv::npos ? s.size() : end);
      }
      Assign(key, value);
      if (Consume(s, " (")) {  // "nrcpt=1 (queue active)"
        return;
      }
      while (!s.empty() && (s.front() == ',' || s.front() == ' ')) s.remove_prefix(1);
    }
  }

  void Assign(sv key, sv value) {
    switch (key.size()) {
      case 2:
        if (Is(key, "to")) e_->to = Sp(value);
        break;
      case 3:
        if (Is(key, "dsn"))
          e_->dsn = Sp(value);
        else if (Is(key, "uid")) {
        }
        break;
      case 4:
        if (Is(key, "from"))
          e_->from = Sp(value);
        else if (Is(key, "size"))
          Number(value, &e_->size);
        break;
      case 5:
        if (Is(key, "relay"))
          Relay(value);
        else if (Is(key, "delay"))
          ToFloat(value, &e_->delay);
        else if (Is(key, "nrcpt"))
          Number(value, &e_->nrcpt);
        break;
      case 6:
        if (Is(key, "client")) {
          ClientHostIp(value, &e_->client_host, &e_->client_ip, &e_->client_port);
        } else if (Is(key, "delays")) {
          Delays(value);
        }
        break;
      case 7:
        if (Is(key, "orig_to")) e_->orig_to = Sp(value);
        break;
      case 11:
        if (Is(key, "sasl_method")) e_->sasl_method = Sp(value);
        break;
      case 13:
        if (Is(key, "sasl_username")) e_->sasl_username = Sp(value);
        break;
      default:
        break;
    }
  }

  void Relay(sv value) {
    if (Is(value, "none")) return;
    if (!ClientHostIp(value, &e_->relay_host, &e_->relay_ip, &e_->relay_port)) {
      e_->relay_host = Sp(value);  // "local", "dovecot", "virtual"
    }
  }

  void Delays(sv value) {
    for (int i = 0; i < 4 && !value.empty(); ++i) {
      sv part = UpTo(value, '/');
      ToFloat(part, &e_->delays[i]);
      value.remove_prefix(std::min(part.size() + 1, value.size()));
    }
  }

  // "250 2.0.0 Ok: queued as 555D8106188" and lmtp/pipe variants.
  void QueuedAs(sv response) {
    size_t at = Find(response, "queued as ");
    if (at == sv::npos) return;
    sv id = response.substr(at + 10);
    size_t end = 0;
    while (end < id.size() && IsAlnum(id[end])) ++end;
    id = id.substr(0, end);
    if (id.size() >= 5) e_->queued_as = Sp(id);
  }

  // smtpd-style "... from host[ip]" at the end of a line (or before ": ").
  void FromClient(sv s) {
    size_t from = s.rfind(" from ");
    if (from == sv::npos) return;
    sv client = s.substr(from + 6);
    client = client.substr(0, Find(client, ' '));
    if (!client.empty() && client.back() == ':') client.remove_suffix(1);
    ClientHostIp(client, &e_->client_host, &e_->client_ip, &e_->client_port);
  }

  // Lines without a queue id.
  void NoQueueLine(sv s, sv service) {
    // The first few start in lower case; postscreen's verdicts, most lines, in upper case.
    const bool lower = !s.empty() && s[0] >= 'a' && s[0] <= 'z';
    if (lower && (StartsWith(s, "proxy-accept: ") || StartsWith(s, "proxy-reject: "))) {
      QueueLine(s, service);
    } else if (lower && StartsWith(s, "table ") &&
               Find(s, " has changed -- restarting") != sv::npos) {
      e_->kind = Kind::kDaemon;
    } else if (lower && Consume(s, "connect from ")) {
      e_->kind = Kind::kConnect;
      ClientHostIp(UpTo(s, ' '), &e_->client_host, &e_->client_ip, &e_->client_port);
    } else if (lower && Consume(s, "disconnect from ")) {
      e_->kind = Kind::kDisconnect;
      ClientHostIp(UpTo(s, ' '), &e_->client_host, &e_->client_ip, &e_->client_port);
    } else if (lower &&
               (StartsWith(s, "lost connection after ") || StartsWith(s, "timeout after ") ||
                StartsWith(s, "too many errors after ") ||
                StartsWith(s, "improper command pipelining after "))) {
      e_->kind = Kind::kLostConnection;
      FromClient(s);
    } else if (Is(service, "postscreen") || Is(service, "dnsblog")) {
      // Most lines of a busy server; none of them is about TLS or an outgoing connection.
      if (IsStatistics(s)) {
        Statistics(s);
      } else if (Is(service, "dnsblog") && StartsWith(s, "addr ")) {
        e_->kind = Kind::kPostscreen;
        e_->client_ip = Sp(UpTo(s.substr(5), ' '));
      } else {
        e_->kind = Kind::kPostscreen;
        Postscreen(s);
      }
    } else if (Find(s, " TLS connection established ") != sv::npos) {
      Tls(s);
    } else if (Is(service, "smtpd") && Find(s, " after ") != sv::npos &&
               Find(s, " from ") != sv::npos) {
      // Client protocol trouble: "bare <LF> received after CONNECT from host[ip]" and kin.
      e_->kind = Kind::kLostConnection;
      FromClient(s);
    } else if (ConnectFailure(s)) {
    } else if (IsStatistics(s)) {
      Statistics(s);
    } else if (Is(service, "master") || Is(service, "postfix-script") || Is(service, "postfix")) {
      e_->kind = Kind::kDaemon;
    } else if (Is(service, "tlsproxy")) {
      e_->kind = Kind::kTls;
      Postscreen(s);
    } else if (Is(service, "postsuper") && StartsWith(s, "Deleted: ")) {
      e_->kind = Kind::kDelete;
    } else if (Is(service, "postsuper") &&
               (StartsWith(s, "Placed on hold: ") || StartsWith(s, "Released from hold: ") ||
                StartsWith(s, "Requeued: "))) {
      e_->kind = s[0] == 'P'                  ? Kind::kHold
                 : s[0] == 'R' && s[2] == 'l' ? Kind::kRelease
                                              : Kind::kRequeue;
    } else if (StartsWith(s, "Trusted TLS") || StartsWith(s, "Untrusted TLS") ||
               StartsWith(s, "Verified TLS") || StartsWith(s, "Anonymous TLS")) {
      Tls(s);
    } else if (StartsWith(s, "discarding EHLO keywords") || StartsWith(s, "enabling PIX") ||
               StartsWith(s, "SSL_connect error") || StartsWith(s, "SSL_accept error") ||
               StartsWith(s, "certificate verification failed") || StartsWith(s, "host ")) {
      e_->kind = Is(service, "smtpd") ? Kind::kLostConnection : Kind::kRemoteReply;
      e_->response = Sp(s);
      PeerInText(s, !Is(service, "smtpd"));
    }
  }

  static bool IsStatistics(sv s) {
    return StartsWith(s, "statistics: ") || StartsWith(s, "cache ");
  }

  // anvil's and the caches' statistics: "... for (smtp:192.0.2.1) at ..."
  void Statistics(sv s) {
    e_->kind = Kind::kStatistics;
    size_t open = Find(s, " for (");
    if (open != sv::npos) {
      sv inside = UpTo(s.substr(open + 6), ')');
      // "(service:ip)"; the service may itself be "127.0.0.1:2525".
      size_t last = FindLast(inside, ':');
      sv tail = last == sv::npos ? sv() : inside.substr(last + 1);
      if (Find(tail, '.') != sv::npos) {
        e_->client_ip = Sp(tail);
      } else if (size_t first = Find(inside, ':'); first != sv::npos) {
        e_->client_ip = Sp(inside.substr(first + 1));  // IPv6
      }
    }
  }

  // "CONNECT from [ip]:port to [ip]:25", "PASS NEW [ip]:port", "DNSBL rank 3 for [ip]:port"
  void Postscreen(sv s) {
    size_t open = Find(s, '[');
    size_t close = Find(s, ']');
    if (open == sv::npos || close == sv::npos || close < open) return;
    e_->client_ip = Sp(s.substr(open + 1, close - open - 1));
    sv after = s.substr(close + 1);
    if (Consume(after, ":")) {
      // The port: the digits up to a space, a colon or the end (anything else: no port).
      size_t digits = 0;
      while (digits < after.size() && IsDigit(after[digits])) ++digits;
      if (digits == after.size() || after[digits] == ' ' || after[digits] == ':') {
        Number(after.substr(0, digits), &e_->client_port);
      }
    }
    constexpr sv kConnect = "CONNECT from ";
    if (s.size() >= kConnect.size() && SameBytes<kConnect.size()>(s.data(), kConnect.data())) {
      e_->kind = Kind::kConnect;
    }
  }

  // "Anonymous TLS connection established from host[ip]: TLSv1.3 with cipher X (256/256 bits)"
  void Tls(sv s) {
    e_->kind = Kind::kTls;
    size_t dir = Find(s, " established ");
    sv rest = s.substr(dir + 13);
    bool outgoing = Consume(rest, "to ");
    if (!outgoing) Consume(rest, "from ");
    size_t colon = Find(rest, "]: ");
    if (colon == sv::npos)
      colon = Find(rest, ": ");
    else
      ++colon;
    if (colon == sv::npos) return;
    sv peer = rest.substr(0, colon);
    if (outgoing) {
      ClientHostIp(peer, &e_->relay_host, &e_->relay_ip, &e_->relay_port);
    } else {
      ClientHostIp(peer, &e_->client_host, &e_->client_ip, &e_->client_port);
    }
    rest.remove_prefix(colon + 2);
    e_->tls_protocol = Sp(UpTo(rest, ' '));
    size_t cipher = Find(rest, " with cipher ");
    if (cipher != sv::npos) e_->tls_cipher = Sp(UpTo(rest.substr(cipher + 13), ' '));
  }

  // ---- Dovecot --------------------------------------------------------------------------

  // Syslog form: "dovecot: imap-login: Login: user=<...>" / "dovecot: lmtp(alice)<1><s>: msg"
  void DovecotSyslog(sv s) {
    if (StartsWith(s, "Dovecot v")) {
      e_->kind = Kind::kDaemon;
      return;
    }
    sv before_level = s;
    Level(s);
    if (s.size() != before_level.size()) {  // "dovecot: Fatal: ..." from the master
      e_->message = Sp(s);
      e_->kind = Kind::kWarning;
      if (e_->severity == Severity::kInfo) e_->kind = Kind::kDaemon;
      return;
    }
    if (StartsWith(s, "dovecot: ")) s.remove_prefix(9);  // "dovecot[442]: dovecot: auth..."
    size_t colon = Find(s, ": ");
    if (colon == sv::npos) return;
    sv tag = s.substr(0, colon);
    if (Find(tag, ' ') != sv::npos) return;
    s.remove_prefix(colon + 2);
    int32_t syslog_pid = e_->pid;
    ServiceTag(tag);
    if (e_->pid == 0) e_->pid = syslog_pid;
    Level(s);
    e_->message = Sp(s);
    DovecotPayload(s, e_->Get(e_->service));
  }

  // Dovecot's key=<value>, key=value lists: "user=<alice>, method=PLAIN, rip=1.2.3.4, ..."
  void DovecotFields(sv s) {
    while (!s.empty()) {
      size_t eq = Find(s, '=');
      size_t comma = Find(s, ", ");
      if (eq == sv::npos) return;
      if (comma != sv::npos && comma < eq) {
        s.remove_prefix(comma + 2);
        continue;
      }
      sv key = s.substr(0, eq);
      s.remove_prefix(eq + 1);
      sv value;
      if (StartsWith(s, "<")) {
        size_t close = Find(s, '>');
        value = close == sv::npos ? s.substr(1) : s.substr(1, close - 1);
        s.remove_prefix(close == sv::npos ? s.size() : close + 1);
      } else {
        value = s.substr(0, Find(s, ", "));
        s.remove_prefix(value.size());
      }
      if (Is(key, "user"))
        e_->user = Sp(value);
      else if (Is(key, "method"))
        e_->method = Sp(value);
      else if (Is(key, "rip"))
        e_->client_ip = Sp(value);
      else if (Is(key, "session"))
        e_->session = Sp(value);
      else if (Is(key, "rport"))
        Number(value, &e_->client_port);
      while (!s.empty() && (s.front() == ',' || s.front() == ' ')) s.remove_prefix(1);
    }
  }

  static bool AuthFailureReason(sv reason) {
    for (sv word : {sv("mismatch"), sv("unknown user"), sv("failed"), sv("Authentication failure"),
                    sv("invalid credentials"), sv("User not known")}) {
      if (Find(reason, word) != sv::npos) return true;
    }
    return false;
  }

  void DovecotPayload(sv s, sv service) {
    if (EndsWith(service, "-login")) {
      if (StartsWith(s, "Login: ")) {
        e_->kind = Kind::kDovecotLogin;
        e_->result = Sp(s.substr(0, 5));
        s.remove_prefix(7);
        DovecotFields(s);
        return;
      }
      // "Disconnected (auth failed, 1 attempts in 2 secs): user=<a>, ..." (2.2) or
      // "Aborted login (auth failed, ...)" / "Login aborted: ... (auth_failed)" (2.3)
      size_t open = Find(s, " (");
      size_t close = Find(s, "): ");
      if (open != sv::npos && close != sv::npos && close > open) {
        sv why = s.substr(open + 2, close - open - 2);
        e_->result = Sp(UpTo(why, ','));
        e_->kind = Find(why, "auth failed") != sv::npos || Find(why, "auth_failed") != sv::npos
                       ? Kind::kDovecotAuthFailure
                       : Kind::kDovecotDisconnect;
        DovecotFields(s.substr(close + 3));
        return;
      }
      if (StartsWith(s, "Disconnected") || StartsWith(s, "Aborted login") ||
          StartsWith(s, "Login aborted")) {
        e_->kind = Find(s, "auth") != sv::npos && Find(s, "failed") != sv::npos
                       ? Kind::kDovecotAuthFailure
                       : Kind::kDovecotDisconnect;
        size_t fields = Find(s, ": user=");
        if (fields != sv::npos) DovecotFields(s.substr(fields + 2));
        return;
      }
    }
    if (Is(service, "auth") || Is(service, "auth-worker") || Is(service, "dovecot-auth")) {
      sv tag_user = e_->Get(e_->user);
      if (Find(tag_user, ',') != sv::npos && AuthFailureReason(s)) {
        // Dovecot 2.3: "auth(user,ip,mech)<session>: Info: sql: Password mismatch ..."
        e_->kind = Kind::kDovecotAuthFailure;
        sv user = UpTo(tag_user, ',');
        sv rest = tag_user.substr(user.size() + 1);
        e_->client_ip = Sp(UpTo(rest, ','));
        e_->user = Sp(user);
        size_t colon = Find(s, ": ");
        if (colon != sv::npos && colon < 20) e_->method = Sp(s.substr(0, colon));
        e_->result = Sp(colon != sv::npos && colon < 20 ? s.substr(colon + 2) : s);
        return;
      }
      // "passwd-file(alice,198.18.0.11,<sess>): Password mismatch", possibly after other
      // "x(...): " prefixes: the last "driver(user,ip...): " is the one.
      size_t close = s.rfind("): ");
      size_t open = close == sv::npos ? sv::npos : s.rfind('(', close);
      if (open != sv::npos) {
        sv inside = s.substr(open + 1, close - open - 1);
        sv user = UpTo(inside, ',');
        sv reason = s.substr(close + 3);
        size_t driver_start = s.find_last_of(" :", open);
        sv driver = s.substr(driver_start == sv::npos ? 0 : driver_start + 1,
                             open - (driver_start == sv::npos ? 0 : driver_start + 1));
        if (AuthFailureReason(reason)) {
          e_->kind = Kind::kDovecotAuthFailure;
          e_->user = Sp(user);
          e_->method = Sp(driver);
          e_->result = Sp(reason);
          if (inside.size() > user.size())
            e_->client_ip = Sp(UpTo(inside.substr(user.size() + 1), ','));
          return;
        }
      }
      size_t rhost = Find(s, "rhost=");  // pam_unix: "authentication failure; ... rhost=IP"
      if (Find(s, "authentication failure") != sv::npos && rhost != sv::npos) {
        e_->kind = Kind::kDovecotAuthFailure;
        e_->client_ip = Sp(UpTo(s.substr(rhost + 6), ' '));
        size_t u = Find(s, " user=");
        if (u != sv::npos) e_->user = Sp(UpTo(s.substr(u + 6), ' '));
        return;
      }
      if (e_->severity != Severity::kInfo) e_->kind = Kind::kWarning;
      return;
    }
    if (Is(service, "lmtp") || Is(service, "lda") || Is(service, "deliver")) {
      // "lmtp(user): SESSION: sieve: msgid=<...>: stored mail into mailbox 'x'"
      size_t sieve = Find(s, "sieve: msgid=");
      if (sieve != sv::npos) s.remove_prefix(sieve + 7);
      if (Consume(s, "Connect from ")) {
        e_->kind = Kind::kConnect;
        return;
      }
      if (StartsWith(s, "Disconnect from ")) {
        e_->kind = Kind::kDovecotDisconnect;
        return;
      }
      if (Consume(s, "msgid=")) {
        e_->kind = Kind::kDovecotDelivery;
        size_t end = Find(s, ": ");
        e_->message_id = Sp(Angle(s.substr(0, end)));
        if (end != sv::npos) e_->result = Sp(s.substr(end + 2));
        return;
      }
      if (!e_->user.empty()) {
        e_->kind = Kind::kDovecotDelivery;
        e_->result = Sp(s);
        return;
      }
    }
    if (EqualsIgnoreCase(service, "imap") || EqualsIgnoreCase(service, "pop3") ||
        Is(service, "managesieve") || Is(service, "submission")) {
      if (StartsWith(s, "Disconnected") || StartsWith(s, "Logged out") ||
          StartsWith(s, "Connection closed")) {
        e_->kind = Kind::kDovecotDisconnect;
        e_->result = Sp(UpTo(s, ':'));
        return;
      }
    }
    if (Is(service, "master") || Is(service, "dovecot") || StartsWith(s, "Dovecot v")) {
      if (StartsWith(s, "Dovecot v") || StartsWith(s, "Warning: Killed") ||
          Find(s, "starting up") != sv::npos || Find(s, "shutting down") != sv::npos) {
        e_->kind = Kind::kDaemon;
        return;
      }
    }
    if (e_->severity != Severity::kInfo) e_->kind = Kind::kWarning;
  }

  LogEvent* const e_;
  const sv raw_;
  const int ref_year_;
  const int ref_month_;
  StampCache* const stamp_cache_;
  bool dovecot_own_log_ = false;
};

}  // namespace

std::string_view KindName(Kind kind) {
  auto i = static_cast<size_t>(kind);
  return i < kKindNames.size() ? kKindNames[i] : "other";
}

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kError:
      return "error";
    case Severity::kFatal:
      return "fatal";
    case Severity::kPanic:
      return "panic";
  }
  return "info";
}

#if defined(__SSE2__)
namespace {
template <size_t... kBlock>
[[gnu::always_inline]] inline void CopyBlocks(char* dst, const char* src,
                                              std::index_sequence<kBlock...>) {
  (_mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16 * kBlock),
                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16 * kBlock))),
   ...);
}
}  // namespace
#endif

void LogEvent::Clear() {
  static const LogFields kBlank;
#if defined(__SSE2__)
  // A plain assignment compiles to `rep movsq`, whose start-up costs more than copying these
  // few hundred bytes with vector moves (measured: 5% of a parse).
  static_assert(std::is_trivially_copyable_v<LogFields> && sizeof(LogFields) % 8 == 0);
  auto* dst = reinterpret_cast<char*>(static_cast<LogFields*>(this));
  const auto* src = reinterpret_cast<const char*>(&kBlank);
  // Unrolled by hand: GCC turns a loop of these back into memcpy, and so into `rep movsq`.
  CopyBlocks(dst, src, std::make_index_sequence<sizeof(LogFields) / 16>{});
  if constexpr (sizeof(LogFields) % 16 != 0) {
    std::memcpy(dst + sizeof(LogFields) - 8, src + sizeof(LogFields) - 8, 8);
  }
#else
  static_cast<LogFields&>(*this) = kBlank;
#endif
  raw.clear();
}

Parser::Parser(std::chrono::system_clock::time_point reference) {
  std::time_t t = std::chrono::system_clock::to_time_t(reference);
  std::tm tm{};
  gmtime_r(&t, &tm);
  reference_year_ = tm.tm_year + 1900;
  reference_month_ = tm.tm_mon + 1;
}

void Parser::Parse(std::string_view line, LogEvent* event, bool plain) {
  event->Clear();
  if (line.size() > kMaxLine) {
    line = line.substr(0, kMaxLine);
    event->truncated = true;
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  event->raw.assign(line);
  event->invalid_utf8 = !plain && !ValidUtf8(line);
  try {
    LineParser(event, reference_year_, reference_month_, &stamp_cache_).Run();
  } catch (const std::exception&) {
    // A bug in a payload rule must never cost the line: keep it raw, as kind "other".
    bool truncated = event->truncated, invalid = event->invalid_utf8;
    event->Clear();
    event->raw.assign(line);
    event->truncated = truncated;
    event->invalid_utf8 = invalid;
  }
}

}  // namespace mailfleet::parse
