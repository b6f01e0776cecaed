#include "collector/server/control_service.h"

#include <algorithm>
#include <thread>

#include "common/grpc_status.h"
#include "common/tls.h"
#include "common/version.h"
#include "fmt/format.h"
#include "google/protobuf/util/time_util.h"

namespace mailfleet::collector {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToTimestamp(TimePoint t) {
  return TimeUtil::MicrosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
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
  auto events = store_.QueryEvents(request->query(), 0);
  if (!events.ok()) return ToGrpcStatus(events.status());
  for (auto& e : *events) *response->add_events() = std::move(e);
  return grpc::Status::OK;
}

grpc::Status ControlService::FollowLogs(grpc::ServerContext* context,
                                        const mailfleet::v1::FollowLogsRequest* request,
                                        grpc::ServerWriter<mailfleet::v1::StoredEvent>* writer) {
  if (auto s = CheckCaller(context); !s.ok()) return s;
  auto last = store_.LastEventId();
  if (!last.ok()) return ToGrpcStatus(last.status());
  int64_t after = *last;
  mailfleet::v1::LogQuery query = request->query();
  query.set_limit(1000);
  // Deadlines do not end a follow: only the caller does (or a collector shutdown).
  while (!context->IsCancelled()) {
    auto events = store_.QueryEvents(query, after);
    if (!events.ok()) return ToGrpcStatus(events.status());
    for (const auto& e : *events) {
      if (!writer->Write(e)) return grpc::Status::OK;
      after = std::max(after, e.id());
    }
    if (events->size() < 1000) std::this_thread::sleep_for(options_.follow_poll);
  }
  return grpc::Status::OK;
}

grpc::Status ControlService::GetStats(grpc::ServerContext* context,
                                      const mailfleet::v1::StatsRequest* request,
                                      mailfleet::v1::StatsResponse* response) {
  if (auto s = CheckCaller(context); !s.ok()) return s;
  auto stats = store_.Stats(*request);
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  *response = *std::move(stats);
  return grpc::Status::OK;
}

}  // namespace mailfleet::collector
