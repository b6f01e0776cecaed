// Readers for the real mail log corpora in ../shared/corpora (see its README.md), used by
// parser_corpus_test.cc: a small YAML reader good enough for postfix-grok-patterns' and
// Datadog's test files, crowdsec parser.assert lines, Logstash's key=value expansion, whole
// files (plain, xz, gzip), the log lines inside each corpus file, timestamps, and the "shape"
// of a line. Test-only code: every reader reports a problem through its return value.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mailfleet::parse::corpus {

// ----------------------------------------------------------------------------------------
// Small string helpers.

inline bool StartsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
inline bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}
inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
inline std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
// Parses an unsigned decimal number filling all of `s`.
inline std::optional<int64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// ----------------------------------------------------------------------------------------
// Files.

inline bool ReadWholeFile(const std::filesystem::path& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open " + path.string();
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    *error = "cannot read " + path.string();
    return false;
  }
  *out = std::move(buffer).str();
  return true;
}

// Runs `command` through the shell and keeps its standard output; false unless it exits 0.
inline bool ReadCommandOutput(const std::string& command, std::string* out, std::string* error) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *error = "cannot run: " + command;
    return false;
  }
  out->clear();
  char buffer[1 << 16];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out->append(buffer, n);
  int status = pclose(pipe);
  if (status != 0) {
    *error = command + " failed (status " + std::to_string(status) + ")";
    return false;
  }
  return true;
}

// Reads a corpus file, decompressing .xz with `xz -dc` and .gz with `gzip -dc`.
inline bool ReadCorpusFile(const std::filesystem::path& path, std::string* out,
                           std::string* error) {
  std::string name = path.filename().string();
  const char* tool = EndsWith(name, ".xz") ? "xz" : EndsWith(name, ".gz") ? "gzip" : nullptr;
  if (tool == nullptr) return ReadWholeFile(path, out, error);
  std::string quoted = path.string();
  if (quoted.find('\'') != std::string::npos) {
    *error = "refusing to quote a path holding ': " + quoted;
    return false;
  }
  return ReadCommandOutput(std::string(tool) + " -dc -- '" + quoted + "'", out, error);
}

// The lines of `text` without their "\n" or "\r\n"; a last line without a newline counts.
inline std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

// ----------------------------------------------------------------------------------------
// YAML: just enough for the corpora's test files. Block mappings and "-" list items, plain,
// 'single' and "double" quoted scalars on one line, comments. Anything else (block scalars,
// quoted values spanning lines, flow collections) is reported as unsupported, so a future
// copy of the corpora that needs more makes the test fail loudly instead of misreading it.

// Decodes one scalar (the text after "key: "). Double-quoted escapes follow YAML 1.2.
inline bool DecodeYamlScalar(std::string_view raw, std::string* out, std::string* error) {
  out->clear();
  raw = Trim(raw);
  if (raw.empty()) return true;
  char q = raw.front();
  if (q == '|' || q == '>' || q == '[' || q == '{' || q == '&' || q == '*' || q == '!') {
    *error = "unsupported YAML value: " + std::string(raw);
    return false;
  }
  if (q != '"' && q != '\'') {
    size_t comment = raw.find(" #");
    *out = std::string(Trim(raw.substr(0, comment)));
    return true;
  }
  size_t i = 1;
  bool closed = false;
  for (; i < raw.size(); ++i) {
    char c = raw[i];
    if (q == '\'') {
      if (c != '\'') {
        out->push_back(c);
      } else if (i + 1 < raw.size() && raw[i + 1] == '\'') {
        out->push_back('\'');
        ++i;
      } else {
        closed = true;
        break;
      }
      continue;
    }
    if (c == '"') {
      closed = true;
      break;
    }
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (++i >= raw.size()) break;
    char e = raw[i];
    int hex_digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (hex_digits > 0) {
      if (i + hex_digits >= raw.size()) break;
      uint32_t cp = 0;
      for (int k = 1; k <= hex_digits; ++k) {
        char h = raw[i + k];
        int v = IsDigit(h)               ? h - '0'
                : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                         : -1;
        if (v < 0) {
          *error = "bad \\" + std::string(1, e) + " escape in " + std::string(raw);
          return false;
        }
        cp = cp * 16 + static_cast<uint32_t>(v);
      }
      i += hex_digits;
      if (cp < 0x80) {  // UTF-8 encoding of the code point
        out->push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else {
        out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      continue;
    }
    switch (e) {
      case '0':
        out->push_back('\0');
        break;
      case 'a':
        out->push_back('\a');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'v':
        out->push_back('\v');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 'e':
        out->push_back('\x1b');
        break;
      case ' ':
        out->push_back(' ');
        break;
      case '"':
        out->push_back('"');
        break;
      case '/':
        out->push_back('/');
        break;
      case '\\':
        out->push_back('\\');
        break;
      default:
        *error = "unsupported escape \\" + std::string(1, e) + " in " + std::string(raw);
        return false;
    }
  }
  if (!closed) {
    *error = "quoted YAML value does not end on its line: " + std::string(raw);
    return false;
  }
  std::string_view rest = Trim(raw.substr(i + 1));
  if (!rest.empty() && rest.front() != '#') {
    *error = "text after a quoted YAML value: " + std::string(raw);
    return false;
  }
  return true;
}

// Flattens a YAML document into "path" → scalar: nested keys are joined with '.', list items
// are numbered from 0 ("tests.0.sample"). Keys keep their order of appearance.
using FlatYaml = std::vector<std::pair<std::string, std::string>>;

inline bool FlattenYaml(std::string_view text, FlatYaml* out, std::string* error) {
  struct Frame {
    size_t indent;
    std::string path;
  };
  std::vector<Frame> stack;  // open mappings and list items, innermost last
  std::map<std::string, int> list_counts;
  out->clear();
  int line_no = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_no;
    std::string_view body = Trim(line);
    if (body.empty() || body.front() == '#' || body == "---") continue;
    size_t indent = line.find_first_not_of(" ");
    if (line[indent] == '\t') {
      *error = "line " + std::to_string(line_no) + ": tab indentation";
      return false;
    }
    auto parent_path = [&](size_t at) {
      while (!stack.empty() && stack.back().indent >= at) stack.pop_back();
      return stack.empty() ? std::string() : stack.back().path;
    };
    auto join = [](const std::string& a, std::string_view b) {
      return a.empty() ? std::string(b) : a + "." + std::string(b);
    };
    bool item = body == "-" || StartsWith(body, "- ");
    std::string base;
    if (item) {
      std::string parent = parent_path(indent);
      std::string path = join(parent, std::to_string(list_counts[parent]++));
      stack.push_back({indent, path});
      body = Trim(body.substr(1));
      if (body.empty()) continue;
      indent = line.find_first_not_of(' ', indent + 1);  // "- key: v" nests the key
      base = path;
    }
    size_t colon = body.find(": ");
    if (colon == std::string_view::npos && EndsWith(body, ":")) colon = body.size() - 1;
    bool quoted_start = body.front() == '"' || body.front() == '\'';
    if (colon == std::string_view::npos || quoted_start) {
      if (!item) {
        *error = "line " + std::to_string(line_no) + ": not 'key: value': " + std::string(line);
        return false;
      }
      std::string value;
      if (!DecodeYamlScalar(body, &value, error)) return false;
      out->emplace_back(base, value);
      continue;
    }
    std::string key(Trim(body.substr(0, colon)));
    std::string_view raw_value = Trim(body.substr(colon + 1));
    std::string path = join(item ? base : parent_path(indent), key);
    if (raw_value.empty() || raw_value.front() == '#') {
      stack.push_back({indent, path});  // a nested mapping or list follows
      continue;
    }
    std::string value;
    if (!DecodeYamlScalar(raw_value, &value, error)) {
      *error = "line " + std::to_string(line_no) + ": " + *error;
      return false;
    }
    out->emplace_back(path, value);
  }
  return true;
}

// ----------------------------------------------------------------------------------------
// postfix-grok-patterns: Logstash's post-processing of postfix_keyvalue_data
// (50-filter-postfix.conf): a `kv` filter with default splitting (spaces; values in <>, ()
// or [] kept whole), trim_value "<>," and prefix "postfix_", then POSTFIX_CLIENT, POSTFIX_RELAY
// and POSTFIX_DELAYS applied to the client=, relay= and delays= values.

inline bool LooksLikeIp(std::string_view s) {
  if (s.empty()) return false;
  bool sep = false;
  for (char c : s) {
    if (c == '.' || c == ':') {
      sep = true;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return sep;
}

// "host[addr]:port" → host, addr, port (each may be empty). False when there is no [...].
inline bool SplitHostAddrPort(std::string_view v, std::string_view* host, std::string_view* addr,
                              std::string_view* port) {
  size_t open = v.find('[');
  size_t close = v.rfind(']');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return false;
  }
  *host = v.substr(0, open);
  *addr = v.substr(open + 1, close - open - 1);
  std::string_view rest = v.substr(close + 1);
  *port = StartsWith(rest, ":") ? rest.substr(1) : std::string_view();
  return true;
}

// Adds the postfix_* fields Logstash derives from postfix_keyvalue_data to `fields`.
inline void ExpandGrokKeyValueData(std::string_view data,
                                   std::vector<std::pair<std::string, std::string>>* fields) {
  size_t i = 0;
  while (i < data.size()) {
    while (i < data.size() && data[i] == ' ') ++i;
    size_t eq = data.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string key(data.substr(i, eq - i));
    size_t end = eq + 1;
    char open = end < data.size() ? data[end] : '\0';
    char close = open == '<' ? '>' : open == '(' ? ')' : open == '[' ? ']' : '\0';
    if (close != '\0') {
      size_t c = data.find(close, end + 1);
      end = c == std::string_view::npos ? data.size() : c + 1;
    }
    while (end < data.size() && data[end] != ' ') ++end;
    std::string_view value = data.substr(eq + 1, end - eq - 1);
    while (!value.empty() &&
           (value.front() == '<' || value.front() == '>' || value.front() == ',')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == '<' || value.back() == '>' || value.back() == ',')) {
      value.remove_suffix(1);
    }
    i = end;
    std::string_view host, addr, port;
    if (key == "client" && SplitHostAddrPort(value, &host, &addr, &port)) {
      if (!host.empty()) fields->emplace_back("postfix_client_hostname", host);
      fields->emplace_back(addr == "unknown" ? "postfix_client_ip_unknown" : "postfix_client_ip",
                           addr);
      if (!port.empty()) fields->emplace_back("postfix_client_port", port);
    } else if (key == "relay" && SplitHostAddrPort(value, &host, &addr, &port)) {
      if (!host.empty()) fields->emplace_back("postfix_relay_hostname", host);
      fields->emplace_back(LooksLikeIp(addr) ? "postfix_relay_ip" : "postfix_relay_service", addr);
      if (!port.empty()) fields->emplace_back("postfix_relay_port", port);
    } else if (key == "relay") {
      fields->emplace_back("postfix_relay_service", value);  // none, local, virtual, dovecot...
    } else if (key == "delays") {
      static constexpr const char* kParts[] = {"postfix_delay_before_qmgr", "postfix_delay_in_qmgr",
                                               "postfix_delay_conn_setup",
                                               "postfix_delay_transmission"};
      std::string_view rest = value;
      for (const char* part : kParts) {
        size_t slash = rest.find('/');
        fields->emplace_back(part, rest.substr(0, slash));
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      }
    } else {
      fields->emplace_back("postfix_" + key, value);
    }
  }
}

// ----------------------------------------------------------------------------------------
// crowdsec-hub .tests/*/parser.assert: expr lines such as
//   results["s01-parse"]["crowdsecurity/postfix-logs"][2].Evt.Parsed["remote_addr"] == "1.2.3.4"
// Only stage s01-parse, simple equalities on Parsed, Meta and Unmarshaled["postfix"] are read;
// other lines (s00-raw copies, slices like [4:], basename(...), len(...)) are skipped.

struct CrowdsecAssert {
  int index = 0;        // the event, which is line `index` of the test's .log file
  std::string section;  // "Parsed", "Meta" or "Unmarshaled.postfix"
  std::string key;
  std::string value;
};

inline std::optional<CrowdsecAssert> ParseCrowdsecAssert(std::string_view line) {
  constexpr std::string_view kPrefix = "results[\"s01-parse\"][\"";
  if (!StartsWith(line, kPrefix)) return std::nullopt;
  line.remove_prefix(kPrefix.size());
  size_t end_parser = line.find("\"][");
  if (end_parser == std::string_view::npos) return std::nullopt;
  line.remove_prefix(end_parser + 3);
  size_t close = line.find(']');
  std::optional<int64_t> index = ParseDecimal(line.substr(0, close));
  if (!index) return std::nullopt;
  line.remove_prefix(close + 1);
  CrowdsecAssert a;
  a.index = static_cast<int>(*index);
  for (std::string_view section : {"Parsed", "Meta", "Unmarshaled[\"postfix\"]"}) {
    std::string head = ".Evt." + std::string(section) + "[\"";
    if (!StartsWith(line, head)) continue;
    a.section =
        section == "Parsed" || section == "Meta" ? std::string(section) : "Unmarshaled.postfix";
    line.remove_prefix(head.size());
    break;
  }
  if (a.section.empty()) return std::nullopt;
  size_t key_end = line.find("\"] == \"");
  if (key_end == std::string_view::npos || !EndsWith(line, "\"")) return std::nullopt;
  a.key = std::string(line.substr(0, key_end));
  std::string_view literal = line.substr(key_end + 7);
  literal.remove_suffix(1);
  for (size_t i = 0; i < literal.size(); ++i) {  // expr string escapes
    char c = literal[i];
    if (c == '\\' && i + 1 < literal.size()) {
      char e = literal[++i];
      a.value.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
    } else if (c == '"') {
      return std::nullopt;  // not one plain string literal
    } else {
      a.value.push_back(c);
    }
  }
  return a;
}

// ----------------------------------------------------------------------------------------
// Timestamps, computed independently of the parser to check LogEvent::time_us.

// The parser's "now" in these tests; classic syslog stamps (no year) take 2025, or 2024 when
// their month is more than one month after February (parser.h's rule).
inline constexpr int kReferenceYear = 2025;
inline constexpr int kReferenceMonth = 2;
inline std::chrono::system_clock::time_point ReferenceTime() {
  using namespace std::chrono;
  return sys_days{year{kReferenceYear} / month{kReferenceMonth} / day{15}} + hours{12};
}

inline std::optional<int64_t> UtcMicros(int y, int mo, int d, int h, int mi, int s, int64_t us) {
  using namespace std::chrono;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  int64_t days = sys_days{ymd}.time_since_epoch().count();
  return ((days * 24 + h) * 60 + mi) * 60 * 1000000LL + s * 1000000LL + us;
}

// "Nov 29 00:54:25", "Jul  2 12:24:48", "2024-08-26T01:33:38.572449+00:00", "2022-04-14T00:36:03Z"
// (no zone: UTC) → UTC microseconds. nullopt for anything else.
inline std::optional<int64_t> ExpectedTimeUs(std::string_view ts) {
  auto num = [&](size_t pos, size_t len) -> int {
    if (pos + len > ts.size()) return -1;
    std::optional<int64_t> v = ParseDecimal(ts.substr(pos, len));
    return v ? static_cast<int>(*v) : -1;
  };
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int m = 0; m < 12; ++m) {
    if (!StartsWith(ts, kMonths[m])) continue;
    size_t p = 3;
    while (p < ts.size() && ts[p] == ' ') ++p;
    size_t day_len = p + 1 < ts.size() && IsDigit(ts[p + 1]) ? 2 : 1;
    int d = num(p, day_len);
    p += day_len;
    while (p < ts.size() && ts[p] == ' ') ++p;
    int h = num(p, 2), mi = num(p + 3, 2), s = num(p + 6, 2);
    if (d < 0 || h < 0 || mi < 0 || s < 0 || ts[p + 2] != ':' || ts[p + 5] != ':') break;
    int y = (m + 1) - kReferenceMonth > 1 ? kReferenceYear - 1 : kReferenceYear;
    return UtcMicros(y, m + 1, d, h, mi, s, 0);
  }
  int y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), s = num(17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0 || ts[4] != '-' || ts[7] != '-' ||
      (ts[10] != 'T' && ts[10] != ' ') || ts[13] != ':' || ts[16] != ':') {
    return std::nullopt;
  }
  size_t p = 19;
  int64_t us = 0;
  if (p < ts.size() && ts[p] == '.') {
    int64_t scale = 100000;
    for (++p; p < ts.size() && IsDigit(ts[p]); ++p, scale /= 10) us += (ts[p] - '0') * scale;
  }
  std::optional<int64_t> t = UtcMicros(y, mo, d, h, mi, s, us);
  if (!t || p >= ts.size() || ts[p] == 'Z' || ts[p] == ' ') return t;
  if (ts[p] != '+' && ts[p] != '-') return std::nullopt;
  int oh = num(p + 1, 2);
  int om = p + 3 < ts.size() && ts[p + 3] == ':' ? num(p + 4, 2) : num(p + 3, 2);
  if (oh < 0 || om < 0) return std::nullopt;
  int64_t offset = (oh * 60 + om) * 60 * 1000000LL;
  return ts[p] == '+' ? *t - offset : *t + offset;
}

// ----------------------------------------------------------------------------------------
// Raw corpus files: which files hold log lines and how to take the lines out of them.

enum class LineFormat {
  kPlain,          // one log line per line
  kHashComments,   // fail2ban: "# failJSON: ..." comment lines between the log lines
  kSshguardCases,  // sshguard tests.txt: input line, expected line(s), "M"; "#" comments
  kWazuhIni,       // wazuh rules-testing: "log 1 pass = <line>"
};

// Whether the file (path relative to the corpora folder) holds raw log lines, and how.
inline std::optional<LineFormat> RawLogFormat(const std::filesystem::path& relative) {
  std::string path = relative.generic_string();
  std::string name = relative.filename().string();
  if (EndsWith(name, ".tar.gz")) return std::nullopt;  // complete_extracted/ holds its contents
  if (path.find("/tests/files/logs/") != std::string::npos) return LineFormat::kHashComments;
  if (path.find("sshguard/") != std::string::npos && name == "tests.txt") {
    return LineFormat::kSshguardCases;
  }
  if (EndsWith(name, ".ini")) {
    if (path.find("wazuh") == std::string::npos) return std::nullopt;
    return path.find("rules-testing") != std::string::npos ? LineFormat::kWazuhIni
                                                           : LineFormat::kPlain;
  }
  if (EndsWith(name, ".txt")) {  // logs, except licenses, provenance and Prometheus metrics
    for (std::string_view not_a_log : {"SOURCE", "LICENSE", "COPYING", "AGPL", "metrics-"}) {
      if (StartsWith(name, not_a_log)) return std::nullopt;
    }
    return LineFormat::kPlain;
  }
  if (EndsWith(name, ".log") || EndsWith(name, ".xz") || EndsWith(name, ".gz") ||
      StartsWith(name, "mail.")) {
    return LineFormat::kPlain;
  }
  return std::nullopt;
}

inline std::vector<std::string_view> ExtractLogLines(std::string_view text, LineFormat format) {
  std::vector<std::string_view> out;
  bool expect_input = true;  // sshguard: the next line is a test's input
  for (std::string_view line : SplitLines(text)) {
    if (Trim(line).empty()) continue;
    switch (format) {
      case LineFormat::kPlain:
        out.push_back(line);
        break;
      case LineFormat::kHashComments:
        if (line.front() != '#') out.push_back(line);
        break;
      case LineFormat::kSshguardCases:
        if (line.front() == '#') break;
        if (line == "M") {
          expect_input = true;
        } else if (expect_input) {
          out.push_back(line);
          expect_input = false;
        }
        break;
      case LineFormat::kWazuhIni: {
        size_t eq = line.find(" = ");
        if (StartsWith(line, "log ") && eq != std::string_view::npos) {
          out.push_back(line.substr(eq + 3));
        }
        break;
      }
    }
  }
  return out;
}

// ----------------------------------------------------------------------------------------
// Which lines come from Postfix or Dovecot, judged without the parser (a line the parser
// cannot even split must still count against it).

struct ProgramAndMessage {
  std::string_view program;  // "postfix/smtpd", "postfix-h1/qmgr", "dovecot", "imap-login"
  std::string_view message;  // the text after "program[pid]: "
};

// The syslog program: the app-name of an RFC 5424 line, else the first of the line's first six
// space-separated tokens that ends in ':', cut before any "[pid]", "(...)" or "<...>".
inline std::optional<ProgramAndMessage> FindProgram(std::string_view line) {
  std::vector<std::pair<size_t, size_t>> tokens;  // (pos, len)
  for (size_t i = 0; i < line.size() && tokens.size() < 7;) {
    if (line[i] == ' ') {
      ++i;
      continue;
    }
    size_t end = line.find(' ', i);
    if (end == std::string_view::npos) end = line.size();
    tokens.emplace_back(i, end - i);
    i = end;
  }
  if (line.size() > 3 && line[0] == '<' && tokens.size() >= 7 &&
      EndsWith(line.substr(tokens[0].first, tokens[0].second), ">1")) {
    return ProgramAndMessage{line.substr(tokens[3].first, tokens[3].second),
                             line.substr(tokens[6].first)};
  }
  for (size_t t = 0; t < tokens.size() && t < 6; ++t) {
    std::string_view token = line.substr(tokens[t].first, tokens[t].second);
    if (token.size() < 2 || token.back() != ':') continue;
    std::string_view name = token.substr(0, token.find_first_of("[(<:"));
    if (name.empty()) return std::nullopt;
    size_t message = std::min(line.size(), tokens[t].first + token.size() + 1);
    return ProgramAndMessage{name, line.substr(message)};
  }
  return std::nullopt;
}

inline bool IsPostfixOrDovecot(std::string_view program) {
  std::string p = Lower(program);
  if (StartsWith(p, "postfix") || StartsWith(p, "dovecot")) return true;
  for (std::string_view dovecot :
       {"imap-login", "pop3-login", "submission-login", "managesieve-login", "imap", "pop3", "lmtp",
        "lda", "deliver", "auth", "auth-worker", "managesieve", "submission", "indexer-worker",
        "doveadm"}) {
    if (p == dovecot) return true;
  }
  return false;
}

// A line's shape for grouping: mail addresses become "A", queue ids, session ids and other runs
// of 6+ letters and digits holding a digit become "X", runs of digits become "N".
inline std::string MaskIds(std::string_view s) {
  auto address_char = [](char c) {
    return IsAlnum(c) || c == '.' || c == '_' || c == '-' || c == '+' || c == '=' || c == '%';
  };
  auto mask_run = [](std::string_view run) -> std::string_view {
    bool digits_only = true, has_digit = false;
    for (char c : run) {
      digits_only = digits_only && IsDigit(c);
      has_digit = has_digit || IsDigit(c);
    }
    return digits_only ? "N" : run.size() >= 6 && has_digit ? "X" : run;
  };
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t j = i;
    while (j < s.size() && address_char(s[j])) ++j;
    if (j == i) {
      out.push_back(s[i++]);
    } else if (j < s.size() && s[j] == '@') {  // local@domain
      for (++j; j < s.size() && address_char(s[j]);) ++j;
      out += "A";
      i = j;
    } else {  // letters and digits between punctuation
      for (size_t k = i; k < j;) {
        if (!IsAlnum(s[k])) {
          out.push_back(s[k++]);
          continue;
        }
        size_t end = k;
        while (end < j && IsAlnum(s[end])) ++end;
        out += mask_run(s.substr(k, end - k));
        k = end;
      }
      i = j;
    }
  }
  return out;
}

inline std::string LineShape(const ProgramAndMessage& pm) {
  return MaskIds(pm.program) + ": " + MaskIds(pm.message).substr(0, 40);
}

}  // namespace mailfleet::parse::corpus
