#include "cli/format.h"

#include <algorithm>

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

std::string FormatHostsTable(const google::protobuf::RepeatedPtrField<mailfleet::v1::Host>& hosts,
                             std::chrono::system_clock::time_point now) {
  using google::protobuf::util::TimeUtil;
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "ADDRESSES", "POSTFIX", "DOVECOT", "STATE", "LAST SEEN"}};
  for (const auto& h : hosts) {
    auto last = std::chrono::system_clock::time_point(
        std::chrono::microseconds(TimeUtil::TimestampToMicroseconds(h.last_seen())));
    const auto& inv = h.inventory();
    rows.push_back(
        {h.name(),
         inv.addresses().empty() ? "-" : fmt::format("{}", fmt::join(inv.addresses(), ",")),
         inv.postfix_version().empty() ? "-" : inv.postfix_version(),
         inv.dovecot_version().empty() ? "-" : inv.dovecot_version(),
         h.connected() ? "connected" : "disconnected", Ago(last, now)});
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

}  // namespace mailfleet::cli
