#include "collector/server/control_service.h"

#include <algorithm>
#include <string_view>
#include <thread>

#include "common/actions/actions.h"
#include "common/grpc_status.h"
#include "common/tls.h"
#include "common/version.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "google/protobuf/util/time_util.h"

namespace mailfleet::collector {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToTimestamp(TimePoint t) {
  return TimeUtil::MicrosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
}

// What the log and stats queries filter on, checked before the store is asked, so a typo
// gets an error rather than an empty answer: every host must be in the fleet, the window
// must not be empty, the status must be one Postfix logs and a queue id must look like one.
grpc::Status CheckFilter(Store& store, const google::protobuf::RepeatedPtrField<std::string>& hosts,
                         const google::protobuf::Timestamp* since,
                         const google::protobuf::Timestamp* until, const std::string& status,
                         const std::string& queue_id) {
  if (since != nullptr && until != nullptr && !(*since < *until)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        fmt::format("the window is empty: since {} is not before until {}",
                                    TimeUtil::ToString(*since), TimeUtil::ToString(*until)));
  }
  static constexpr std::string_view kStatuses[] = {"sent",      "deferred",    "bounced",
                                                   "expired",   "deliverable", "undeliverable",
                                                   "SOFTBOUNCE"};  // soft_bounce = yes
  if (!status.empty() &&
      std::find(std::begin(kStatuses), std::end(kStatuses), status) == std::end(kStatuses)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        fmt::format("status '{}' is not one Postfix logs; use one of {}", status,
                                    fmt::join(kStatuses, ", ")));
  }
  if (!queue_id.empty()) {
    if (auto s = actions::ValidateQueueId(queue_id); !s.ok()) return ToGrpcStatus(s);
  }
  if (hosts.empty()) return grpc::Status::OK;
  auto known = store.ListHosts();
  if (!known.ok()) return ToGrpcStatus(known.status());
  return CheckHostsKnown(*known, hosts);
}

grpc::Status CheckFilter(Store& store, const mailfleet::v1::LogQuery& q) {
  return CheckFilter(store, q.hosts(), q.has_since() ? &q.since() : nullptr,
                     q.has_until() ? &q.until() : nullptr, q.status(), q.queue_id());
}

// Only operators' client certificates may use the control API; plaintext (loopback tests)
// has no identity to check.
}  // namespace

grpc::Status CheckCaller(grpc::ServerContext* context) {
  auto auth = context->auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return grpc::Status::OK;
  PeerIdentity peer = IdentifyPeer(*auth);
  if (peer.role != "client") {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        fmt::format("certificate CN={} has role '{}'; the control API takes a "
                                    "client certificate (mailfleet-pki DIR issue client NAME)",
                                    peer.common_name, peer.role));
  }
  return grpc::Status::OK;
}

grpc::Status CheckHostsKnown(const std::vector<HostRecord>& fleet,
                             const google::protobuf::RepeatedPtrField<std::string>& names) {
  std::vector<std::string> unknown;
  for (const auto& name : names) {
    if (std::none_of(fleet.begin(), fleet.end(),
                     [&](const HostRecord& r) { return r.name == name; })) {
      unknown.push_back(name);
    }
  }
  if (unknown.empty()) return grpc::Status::OK;
  return grpc::Status(
      grpc::StatusCode::NOT_FOUND,
      fmt::format("no host named {}; `mailfleet hosts` lists the fleet", fmt::join(unknown, ", ")));
}

void ToProto(const HostRecord& record, mailfleet::v1::Host* host) {
  host->set_name(record.name);
  *host->mutable_inventory() = record.inventory;
  host->set_connected(record.connected);
  *host->mutable_first_seen() = ToTimestamp(record.first_seen);
  *host->mutable_last_seen() = ToTimestamp(record.last_seen);
  if (record.connected_since)
    *host->mutable_connected_since() = ToTimestamp(*record.connected_since);
  if (record.connected) host->set_collector_id(record.collector_id);
  host->set_peer(record.peer);
  *host->mutable_pipeline() = record.pipeline;
}

grpc::Status ControlService::ListHosts(grpc::ServerContext* context,
                                       const mailfleet::v1::ListHostsRequest*,
                                       mailfleet::v1::ListHostsResponse* response) {
  if (auto s = CheckCaller(context); !s.ok()) return s;
  auto hosts = store_.ListHosts();
  if (!hosts.ok()) return ToGrpcStatus(hosts.status());
  for (const auto& record : *hosts) ToProto(record, response->add_hosts());
  return grpc::Status::OK;
}

grpc::Status ControlService::GetHost(grpc::ServerContext* context,
                                     const mailfleet::v1::GetHostRequest* request,
                                     mailfleet::v1::GetHostResponse* response) {
  if (auto s = CheckCaller(context); !s.ok()) return s;
  auto host = store_.GetHost(request->name());
  if (!host.ok()) return ToGrpcStatus(host.status());
  ToProto(*host, response->mutable_host());
  return grpc::Status::OK;
}

grpc::Status ControlService::GetServerInfo(grpc::ServerContext* context,
                                           const mailfleet::v1::GetServerInfoRequest*,
                                           mailfleet::v1::GetServerInfoResponse* response) {
  if (auto s = CheckCaller(context); !s.ok()) return s;
  auto version = store_.SchemaVersion();
  if (!version.ok()) return ToGrpcStatus(version.status());
  response->set_collector_id(options_.collector_id);
  response->set_version(kVersion);
  response->set_schema_version(static_cast<uint32_t>(*version));
  response->set_database(options_.database_label);
  return grpc::Status::OK;
}

grpc::Status ControlService::QueryLogs(grpc::ServerContext* context,
                                       const mailfleet::v1::QueryLogsRequest* request,
                                       mailfleet::v1::QueryLogsResponse* response) {
  if (auto s = CheckCaller(context); !s.ok()) return s;
  if (auto s = CheckFilter(store_, request->query()); !s.ok()) return s;
  auto events = store_.QueryEvents(request->query());
  if (!events.ok()) return ToGrpcStatus(events.status());
  for (auto& e : *events) *response->add_events() = std::move(e);
  return grpc::Status::OK;
}

grpc::Status ControlService::FollowLogs(grpc::ServerContext* context,
                                        const mailfleet::v1::FollowLogsRequest* request,
                                        grpc::ServerWriter<mailfleet::v1::StoredEvent>* writer) {
  if (auto s = CheckCaller(context); !s.ok()) return s;
  if (auto s = CheckFilter(store_, request->query()); !s.ok()) return s;
  auto cursor = store_.StartFollow();
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());
  // Deadlines do not end a follow: only the caller does (or a collector shutdown).
  while (!context->IsCancelled()) {
    if (cursor->caught_up) std::this_thread::sleep_for(options_.follow_poll);
    auto events = store_.FollowEvents(request->query(), &*cursor);
    if (!events.ok()) return ToGrpcStatus(events.status());
    for (const auto& e : *events) {
      if (!writer->Write(e)) return grpc::Status::OK;
    }
  }
  return grpc::Status::OK;
}

grpc::Status ControlService::GetStats(grpc::ServerContext* context,
                                      const mailfleet::v1::StatsRequest* request,
                                      mailfleet::v1::StatsResponse* response) {
  if (auto s = CheckCaller(context); !s.ok()) return s;
  if (auto s =
          CheckFilter(store_, request->hosts(), request->has_since() ? &request->since() : nullptr,
                      request->has_until() ? &request->until() : nullptr, "", "");
      !s.ok()) {
    return s;
  }
  auto stats = store_.Stats(*request);
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  *response = *std::move(stats);
  return grpc::Status::OK;
}

}  // namespace mailfleet::collector
