#include "cli/stats_command.h"

#include <iostream>

#include "cli/format.h"
#include "cli/time_arg.h"
#include "fmt/format.h"
#include "google/protobuf/util/time_util.h"

namespace mailfleet::cli {
namespace {

using google::protobuf::util::TimeUtil;

void TopList(const char* title,
             const google::protobuf::RepeatedPtrField<mailfleet::v1::CountEntry>& list,
             bool with_bytes, std::string* out) {
  if (list.empty()) return;
  std::vector<std::vector<std::string>> rows = {{title, "COUNT"}};
  if (with_bytes) rows[0].push_back("SIZE");
  for (const auto& e : list) {
    rows.push_back({"  " + e.key(), std::to_string(e.count())});
    if (with_bytes) rows.back().push_back(Bytes(e.bytes()));
  }
  *out += FormatTable(rows);
}

void Section(const mailfleet::v1::MailStats& s, std::string* out) {
  *out += fmt::format(
      "== {}\n"
      "  received   {:>8}  ({})\n"
      "  delivered  {:>8}  (forwarded to another MTA: {})\n"
      "  filtered   {:>8}  (passes through a content filter and back; not deliveries)\n"
      "  deferred   {:>8}  (delivery attempts)\n"
      "  bounced    {:>8}\n"
      "  expired    {:>8}\n"
      "  rejected   {:>8}\n"
      "  held       {:>8}\n"
      "  delays of sent mail: p50 {:.2f}s  p95 {:.2f}s  max {:.2f}s\n"
      "  authentication failures: SASL {}, Dovecot {}\n"
      "  warnings {}, errors {}, fatal {}, panic {}\n",
      s.host().empty() ? "fleet" : s.host(), s.received(), Bytes(s.bytes_received()), s.delivered(),
      s.forwarded(), s.content_filtered(), s.deferred(), s.bounced(), s.expired(), s.rejected(),
      s.held(), s.delay_p50(), s.delay_p95(), s.delay_max(), s.sasl_failures(),
      s.dovecot_auth_failures(), s.warnings(), s.errors(), s.fatals(), s.panics());
  if (s.host().empty()) {
    *out += fmt::format(
        "  relayed  {:>10}  (between hosts of the fleet: not counted again as received or "
        "delivered above)\n",
        s.relayed());
  }
  TopList("  REJECTED BECAUSE", s.rejects_by_reason(), false, out);
  TopList("  TOP SENDERS", s.top_senders(), true, out);
  TopList("  TOP SENDER DOMAINS", s.top_sender_domains(), true, out);
  TopList("  TOP RECIPIENTS", s.top_recipients(), true, out);
  TopList("  TOP RECIPIENT DOMAINS", s.top_recipient_domains(), true, out);
  *out += "\n";
}

}  // namespace

std::string FormatStats(const mailfleet::v1::StatsResponse& stats) {
  std::string out;
  for (const auto& h : stats.hosts()) Section(h, &out);
  Section(stats.fleet(), &out);
  return out;
}

int RunStats(const CliConfig& config, const StatsOptions& o) {
  mailfleet::v1::StatsRequest request;
  for (const auto& h : o.hosts) request.add_hosts(h);
  auto now = std::chrono::system_clock::now();
  if (auto s = SetTimeRange(o.since, o.until, now, &request); !s.ok()) {
    std::cerr << "mailfleet: " << s.message() << "\n";
    return 2;
  }
  if (o.top == 0 || o.top > 1000) {
    std::cerr << "mailfleet: --top takes 1 to 1000\n";
    return 2;
  }
  request.set_top(o.top);
  auto client = Client::Connect(config);
  if (!client.ok()) {
    std::cerr << "mailfleet: " << client.status().message() << "\n";
    return 1;
  }
  mailfleet::v1::StatsResponse response;
  auto s = client->Call(&mailfleet::v1::ControlService::Stub::GetStats, request, &response);
  if (!s.ok()) {
    std::cerr << "mailfleet: " << s.message() << "\n";
    return 1;
  }
  std::cout << (o.json ? ToJson(response) + "\n" : FormatStats(response));
  return 0;
}

}  // namespace mailfleet::cli
