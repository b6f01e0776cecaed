#include "agent/exec/queue.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/parse/utf8.h"
#include "common/text.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"

namespace mailfleet::agent {

absl::StatusOr<std::vector<mailfleet::v1::QueueMessage>> ParsePostqueueJson(std::string_view text) {
  std::vector<mailfleet::v1::QueueMessage> out;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // newer Postfix versions may add fields
  int line_number = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    mailfleet::v1::QueueMessage message;
    // Senders and reasons are whatever remote servers sent; protobuf strings must be UTF-8.
    std::string clean = parse::ToValidUtf8(line);
    auto parsed = google::protobuf::util::JsonStringToMessage(clean, &message, options);
    if (!parsed.ok() || message.queue_id().empty()) {
      return absl::DataLossError(fmt::format(
          "postqueue -j line {} is not a queue record ({}): {}", line_number,
          parsed.ok() ? "no queue_id" : std::string(parsed.message()), line.substr(0, 200)));
    }
    out.push_back(std::move(message));
  }
  return out;
}

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(absl::string_view(a.data(), a.size()),
                                absl::string_view(b.data(), b.size()));
}

}  // namespace

bool AddressMatches(std::string_view address, std::string_view pattern) {
  if (pattern == "<>") return address.empty();
  if (pattern.find('@') != std::string_view::npos) return EqualsIgnoreCase(address, pattern);
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return false;
  return EqualsIgnoreCase(address.substr(at + 1), pattern);
}

bool MatchesFilter(const mailfleet::v1::QueueMessage& m, const mailfleet::v1::QueueFilter& f,
                   int64_t now) {
  if (!f.queues().empty()) {
    bool any = false;
    for (const auto& q : f.queues()) any = any || q == m.queue_name();
    if (!any) return false;
  }
  if (!f.queue_ids().empty()) {
    bool any = false;
    for (const auto& id : f.queue_ids()) any = any || id == m.queue_id();
    if (!any) return false;
  }
  if (!f.from().empty() && !AddressMatches(m.sender(), f.from())) return false;
  if (!f.to().empty()) {
    bool any = false;
    for (const auto& r : m.recipients()) any = any || AddressMatches(r.address(), f.to());
    if (!any) return false;
  }
  int64_t age = now - m.arrival_time();
  if (f.older_than_seconds() > 0 && age < static_cast<int64_t>(f.older_than_seconds())) {
    return false;
  }
  if (f.younger_than_seconds() > 0 && age >= static_cast<int64_t>(f.younger_than_seconds())) {
    return false;
  }
  if (f.min_size() > 0 && m.message_size() < f.min_size()) return false;
  if (!f.reason().empty()) {
    bool any = false;
    std::string wanted = absl::AsciiStrToLower(f.reason());
    for (const auto& r : m.recipients()) {
      any = any || absl::StrContains(absl::AsciiStrToLower(r.delay_reason()), wanted);
    }
    if (!any) return false;
  }
  return true;
}

}  // namespace mailfleet::agent
