#include "cli/queue_command.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "cli/format.h"
#include "common/parse/event_json.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace mailfleet::cli {
namespace {

using mailfleet::v1::HostResult;
using mailfleet::v1::QueueMessage;
using Table = std::vector<std::vector<std::string>>;

// qshape's age buckets, in minutes: up to 5, 10, 20, ... 1280, and older.
constexpr int kBuckets[] = {5, 10, 20, 40, 80, 160, 320, 640, 1280};
constexpr int kBucketCount = std::size(kBuckets) + 1;

int Bucket(int64_t age_seconds) {
  for (int i = 0; i < static_cast<int>(std::size(kBuckets)); ++i) {
    if (age_seconds < kBuckets[i] * 60) return i;
  }
  return kBucketCount - 1;
}

std::vector<std::string> BucketHeader(std::string first) {
  std::vector<std::string> h = {std::move(first), "T"};
  for (int b : kBuckets) h.push_back(std::to_string(b));
  h.push_back(fmt::format("{}+", kBuckets[std::size(kBuckets) - 1]));
  return h;
}

// Domains are case-insensitive; the filters treat them so, and so do the tables.
std::string Domain(const std::string& address) {
  size_t at = address.rfind('@');
  if (address.empty()) return "<>";
  return absl::AsciiStrToLower(at == std::string::npos ? address : address.substr(at + 1));
}

std::string Age(int64_t seconds) {
  if (seconds < 120) return fmt::format("{}s", std::max<int64_t>(seconds, 0));
  if (seconds < 7200) return fmt::format("{}m", seconds / 60);
  if (seconds < 172800) return fmt::format("{}h", seconds / 3600);
  return fmt::format("{}d", seconds / 86400);
}

// Delay reasons carry ids and addresses; the first 70 characters group them well enough.
std::string ReasonKey(const std::string& reason) {
  if (reason.empty()) return "(none: not deferred)";
  return reason.size() > 70 ? reason.substr(0, 67) + "..." : reason;
}

struct Counts {
  int64_t total = 0;
  std::array<int64_t, kBucketCount> buckets{};
  void Add(int bucket) {
    ++total;
    ++buckets[bucket];
  }
  std::vector<std::string> Row(std::string label) const {
    std::vector<std::string> row = {std::move(label), std::to_string(total)};
    for (auto n : buckets) row.push_back(std::to_string(n));
    return row;
  }
};

std::string JsonRows(const Table& table) {
  std::string out = "[";
  for (size_t i = 1; i < table.size(); ++i) {
    out += i > 1 ? ",{" : "{";
    for (size_t j = 0; j < table[i].size() && j < table[0].size(); ++j) {
      if (j > 0) out += ",";
      parse::AppendJsonString(table[0][j], &out);
      out += ":";
      parse::AppendJsonString(table[i][j], &out);
    }
    out += "}";
  }
  return out + "]";
}

}  // namespace

Table QueueByDomain(const std::vector<HostResult>& results, int64_t now) {
  // Recipients by domain and age, fleet-wide, each domain followed by its hosts (qshape).
  Counts total;
  std::map<std::string, Counts> by_domain;
  std::map<std::string, std::map<std::string, Counts>> by_domain_host;
  for (const auto& r : results) {
    for (const auto& m : r.result().messages()) {
      int b = Bucket(now - m.arrival_time());
      for (const auto& rcpt : m.recipients()) {
        std::string d = Domain(rcpt.address());
        total.Add(b);
        by_domain[d].Add(b);
        by_domain_host[d][r.host()].Add(b);
      }
    }
  }
  std::vector<std::pair<std::string, Counts>> domains(by_domain.begin(), by_domain.end());
  std::stable_sort(domains.begin(), domains.end(),
                   [](const auto& a, const auto& b) { return a.second.total > b.second.total; });
  Table t = {BucketHeader("DOMAIN")};
  t.push_back(total.Row("TOTAL"));
  for (const auto& [d, c] : domains) {
    t.push_back(c.Row(d));
    for (const auto& [host, hc] : by_domain_host[d]) t.push_back(hc.Row("  " + host));
  }
  return t;
}

Table QueueByAge(const std::vector<HostResult>& results, int64_t now) {
  Table t = {BucketHeader("HOST")};
  Counts total;
  for (const auto& r : results) {
    Counts c;
    for (const auto& m : r.result().messages()) {
      c.Add(Bucket(now - m.arrival_time()));
      total.Add(Bucket(now - m.arrival_time()));
    }
    t.push_back(c.Row(r.host()));
  }
  t.insert(t.begin() + 1, total.Row("TOTAL"));
  return t;
}

Table QueueByReason(const std::vector<HostResult>& results) {
  std::map<std::string, std::map<std::string, int64_t>> counts;
  std::map<std::string, int64_t> totals;
  std::vector<std::string> hosts;
  for (const auto& r : results) {
    hosts.push_back(r.host());
    for (const auto& m : r.result().messages()) {
      for (const auto& rcpt : m.recipients()) {
        std::string k = ReasonKey(rcpt.delay_reason());
        ++counts[k][r.host()];
        ++totals[k];
      }
    }
  }
  std::vector<std::pair<std::string, int64_t>> order(totals.begin(), totals.end());
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  Table t = {{"REASON", "T"}};
  for (const auto& h : hosts) t[0].push_back(h);
  for (const auto& [reason, n] : order) {
    std::vector<std::string> row = {reason, std::to_string(n)};
    for (const auto& h : hosts) row.push_back(std::to_string(counts[reason][h]));
    t.push_back(std::move(row));
  }
  return t;
}

Table QueueByHost(const std::vector<HostResult>& results, int64_t now) {
  static const std::vector<std::string> kQueues = {"incoming", "active", "deferred", "hold",
                                                   "corrupt"};
  Table t = {
      {"HOST", "MESSAGES", "INCOMING", "ACTIVE", "DEFERRED", "HOLD", "CORRUPT", "SIZE", "OLDEST"}};
  for (const auto& r : results) {
    std::map<std::string, int64_t> per;
    uint64_t size = 0;
    int64_t oldest = 0;
    for (const auto& m : r.result().messages()) {
      ++per[m.queue_name()];
      size += m.message_size();
      oldest = std::max(oldest, now - m.arrival_time());
    }
    std::vector<std::string> row = {r.host(), std::to_string(r.result().matched())};
    for (const auto& q : kQueues) row.push_back(std::to_string(per[q]));
    row.push_back(Bytes(size));
    row.push_back(r.result().messages().empty() ? "-" : Age(oldest));
    t.push_back(std::move(row));
  }
  return t;
}

int RunQueue(const CliConfig& config, const QueueOptions& options) {
  static const std::set<std::string> kBy = {"", "domain", "age", "reason", "host"};
  if (!kBy.contains(options.by)) {
    std::cerr << fmt::format("mailfleet: --by '{}': use domain, age, reason or host\n", options.by);
    return 2;
  }
  mailfleet::v1::CommandRequest request;
  request.set_action("queue.list");
  request.set_local_user(LocalUser());
  if (auto s = BuildTargets(options.targets, true, &request); !s.ok()) {
    std::cerr << "mailfleet: " << s.message() << "\n";
    return 2;
  }
  auto results = StreamCommand(config, request, [](const mailfleet::v1::CommandEvent&) {});
  if (!results.ok()) {
    std::cerr << "mailfleet: " << results.status().message() << "\n";
    return results.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  // Results come as hosts finish; tables read better by host name, oldest message first.
  std::sort(results->begin(), results->end(),
            [](const HostResult& a, const HostResult& b) { return a.host() < b.host(); });
  for (auto& r : *results) {
    auto* messages = r.mutable_result()->mutable_messages();
    std::stable_sort(messages->begin(), messages->end(),
                     [](const QueueMessage& a, const QueueMessage& b) {
                       return a.arrival_time() < b.arrival_time();
                     });
  }
  std::vector<HostResult> answered;
  int exit_code = 0;
  for (const auto& r : *results) {
    if (r.status() == "ok") {
      answered.push_back(r);
      if (r.result().messages_truncated()) {
        std::cerr << fmt::format("mailfleet: {}: only the first {} of {} messages were listed\n",
                                 r.host(), r.result().messages_size(), r.result().matched());
      }
    } else {
      exit_code = 1;
      if (!options.json) std::cerr << fmt::format("{}: {}: {}\n", r.host(), r.status(), r.error());
    }
  }
  if (options.by.empty()) {
    if (options.json) {
      std::cout << "{\"hosts\":[";
      for (size_t i = 0; i < results->size(); ++i) {
        std::cout << (i > 0 ? "," : "") << ToJson((*results)[i]);
      }
      std::cout << "]}\n";
      return exit_code;
    }
    Table t = {{"HOST", "ID", "QUEUE", "AGE", "SIZE", "SENDER", "RECIPIENTS", "REASON"}};
    uint64_t total = 0;
    for (const auto& r : answered) {
      total += r.result().matched();
      for (const auto& m : r.result().messages()) {
        if (t.size() > options.limit) break;
        std::vector<std::string> rcpts;
        std::string reason;
        for (const auto& x : m.recipients()) {
          rcpts.push_back(x.address());
          if (reason.empty()) reason = x.delay_reason();
        }
        t.push_back({r.host(), m.queue_id(), m.queue_name(), Age(now - m.arrival_time()),
                     Bytes(m.message_size()), m.sender().empty() ? "<>" : m.sender(),
                     fmt::format("{}", fmt::join(rcpts, ",")), ReasonKey(reason)});
      }
    }
    if (total == 0) {
      std::cout << fmt::format("no queued messages match on {} host{}\n", answered.size(),
                               answered.size() == 1 ? "" : "s");
      return exit_code;
    }
    std::cout << FormatTable(t);
    if (total > t.size() - 1) {
      std::cout << fmt::format("({} of {} messages shown; --limit N for more, --by to summarize)\n",
                               t.size() - 1, total);
    }
    return exit_code;
  }
  Table t = options.by == "domain"   ? QueueByDomain(answered, now)
            : options.by == "age"    ? QueueByAge(answered, now)
            : options.by == "reason" ? QueueByReason(answered)
                                     : QueueByHost(answered, now);
  if (options.json) {
    std::cout << fmt::format("{{\"by\":\"{}\",\"rows\":{}}}\n", options.by, JsonRows(t));
  } else {
    std::cout << FormatTable(t);
  }
  return exit_code;
}

}  // namespace mailfleet::cli
