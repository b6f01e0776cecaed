#include "cli/format.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "common/parse/event_json.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace mailfleet::cli {

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string Ago(std::chrono::system_clock::time_point then,
                std::chrono::system_clock::time_point now) {
  if (then.time_since_epoch().count() == 0) return "never";
  auto s = std::chrono::duration_cast<std::chrono::seconds>(now - then).count();
  if (s < 2) return "just now";
  if (s < 120) return fmt::format("{}s ago", s);
  if (s < 7200) return fmt::format("{}m ago", s / 60);
  if (s < 172800) return fmt::format("{}h ago", s / 3600);
  return fmt::format("{}d ago", s / 86400);
}

std::string Bytes(uint64_t n) {
  if (n < 1024) return fmt::format("{} B", n);
  if (n < (1 << 20)) return fmt::format("{:.1f} KiB", n / 1024.0);
  if (n < (1ull << 30)) return fmt::format("{:.1f} MiB", n / 1048576.0);
  return fmt::format("{:.1f} GiB", n / 1073741824.0);
}

std::string LogLag(const mailfleet::v1::Heartbeat& pipeline) {
  if (pipeline.sources_size() == 0) return "-";
  uint64_t bytes = 0;
  uint32_t seconds = 0;
  for (const auto& s : pipeline.sources()) {
    bytes += s.lag_bytes();
    seconds = std::max(seconds, s.lag_seconds());
  }
  if (bytes == 0) return "none";
  return fmt::format("{}, {}s", Bytes(bytes), seconds);
}

std::string FormatHostsTable(const google::protobuf::RepeatedPtrField<mailfleet::v1::Host>& hosts,
                             std::chrono::system_clock::time_point now) {
  using google::protobuf::util::TimeUtil;
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "ADDRESSES", "POSTFIX", "DOVECOT", "STATE", "LAST SEEN", "LOG LAG"}};
  for (const auto& h : hosts) {
    auto last = std::chrono::system_clock::time_point(
        std::chrono::microseconds(TimeUtil::TimestampToMicroseconds(h.last_seen())));
    const auto& inv = h.inventory();
    rows.push_back(
        {h.name(),
         inv.addresses().empty() ? "-" : fmt::format("{}", fmt::join(inv.addresses(), ",")),
         inv.postfix_version().empty() ? "-" : inv.postfix_version(),
         inv.dovecot_version().empty() ? "-" : inv.dovecot_version(),
         h.connected() ? "connected" : "disconnected", Ago(last, now), LogLag(h.pipeline())});
  }
  return FormatTable(rows);
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) return fmt::format("{{\"error\":\"{}\"}}", status.ToString());
  return out;
}

namespace {

// JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view v) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
    return i > start;
  };
  if (i < v.size() && v[i] == '-') ++i;
  if (i < v.size() && v[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < v.size() && v[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == v.size();
}

// A PostgreSQL real[] in its text form ("{0,0.01,NULL,2.1}") as a JSON array; false when it
// is something else.
bool AppendArrayJson(std::string_view v, std::string* out) {
  if (v.size() < 2 || v.front() != '{' || v.back() != '}') return false;
  std::string json = "[";
  std::string_view rest = v.substr(1, v.size() - 2);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    if (item == "NULL") {
      json += "null";
    } else if (IsJsonNumber(item)) {
      json += item;
    } else {
      return false;
    }
    if (comma == std::string_view::npos) break;
    json += ',';
    rest.remove_prefix(comma + 1);
  }
  out->append(json).push_back(']');
  return true;
}

void AppendFieldJson(std::string_view name, std::string_view value, std::string* out) {
  static constexpr std::string_view kNumbers[] = {"pid",   "client_port", "relay_port", "size",
                                                  "nrcpt", "end_offset",  "delay"};
  bool number = std::find(std::begin(kNumbers), std::end(kNumbers), name) != std::end(kNumbers);
  bool flag = name == "truncated" || name == "invalid_utf8";
  if ((number && IsJsonNumber(value)) || (flag && (value == "true" || value == "false"))) {
    out->append(value);
    return;
  }
  if (name == "delays" && AppendArrayJson(value, out)) return;
  parse::AppendJsonString(value, out);
}

}  // namespace

std::string StoredEventJson(const mailfleet::v1::StoredEvent& e) {
  std::string out = fmt::format("{{\"id\":{},\"host\":", e.id());
  parse::AppendJsonString(e.host(), &out);
  out += ",\"time\":";
  parse::AppendJsonString(google::protobuf::util::TimeUtil::ToString(e.time()), &out);
  out += ",\"kind\":";
  parse::AppendJsonString(e.kind(), &out);
  out += ",\"severity\":";
  parse::AppendJsonString(e.severity(), &out);
  std::map<std::string, std::string> fields(e.fields().begin(), e.fields().end());
  for (const auto& [k, v] : fields) {
    out += ",";
    parse::AppendJsonString(k, &out);
    out += ":";
    AppendFieldJson(k, v, &out);
  }
  out += ",\"raw\":";
  parse::AppendJsonString(e.raw(), &out);
  out += "}";
  return out;
}

}  // namespace mailfleet::cli
