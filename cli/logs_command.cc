#include "cli/logs_command.h"

#include <csignal>
#include <iostream>

#include "cli/format.h"
#include "cli/time_arg.h"
#include "common/parse/event_json.h"
#include "fmt/format.h"
#include "google/protobuf/util/time_util.h"

namespace mailfleet::cli {
namespace {

using google::protobuf::util::TimeUtil;

void Print(const mailfleet::v1::StoredEvent& e, bool json) {
  if (json) {
    std::cout << StoredEventJson(e) << "\n";
  } else {
    std::cout << fmt::format("{:<6} {}\n", e.host(), e.raw());
  }
}

}  // namespace

int RunLogs(const CliConfig& config, const LogsOptions& o) {
  mailfleet::v1::LogQuery query;
  for (const auto& h : o.hosts) query.add_hosts(h);
  auto now = std::chrono::system_clock::now();
  if (auto s = SetTimeRange(o.since, o.until, now, &query); !s.ok()) {
    std::cerr << "mailfleet: " << s.message() << "\n";
    return 2;
  }
  if (o.limit == 0 || o.limit > 1000000) {
    std::cerr << "mailfleet: --limit takes 1 to 1000000\n";
    return 2;
  }
  query.set_queue_id(o.queue_id);
  query.set_message_id(o.message_id);
  query.set_from(o.from);
  query.set_to(o.to);
  query.set_status(o.status);
  query.set_service(o.service);
  query.set_grep(o.grep);
  query.set_limit(o.limit);
  if (o.follow && !o.until.empty()) {
    std::cerr << "mailfleet: --follow shows lines as they arrive; it takes no --until\n";
    return 2;
  }

  auto client = Client::Connect(config);
  if (!client.ok()) {
    std::cerr << "mailfleet: " << client.status().message() << "\n";
    return 1;
  }
  if (!o.follow) {
    mailfleet::v1::QueryLogsRequest request;
    *request.mutable_query() = query;
    mailfleet::v1::QueryLogsResponse response;
    auto s = client->Call(&mailfleet::v1::ControlService::Stub::QueryLogs, request, &response);
    if (!s.ok()) {
      std::cerr << "mailfleet: " << s.message() << "\n";
      return 1;
    }
    for (const auto& e : response.events()) Print(e, o.json);
    if (response.events_size() == 0 && !o.json) std::cerr << "mailfleet: no lines match\n";
    return 0;
  }
  grpc::ClientContext context;
  mailfleet::v1::FollowLogsRequest request;
  *request.mutable_query() = query;
  auto reader = client->stub().FollowLogs(&context, request);
  mailfleet::v1::StoredEvent e;
  while (reader->Read(&e)) {
    Print(e, o.json);
    std::cout.flush();
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) {
    std::cerr << "mailfleet: " << ExplainCallError(config.collector, status).message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace mailfleet::cli
