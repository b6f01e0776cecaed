// ControlService: the CLI's queries and commands, on gRPC's sync thread pool (they read the
// store directly; RunCommand waits on the Dispatcher for results). Callers must present a
// client certificate (OU=client) unless plaintext.
#pragma once

#include <chrono>
#include <string>

#include "collector/server/dispatcher.h"
#include "collector/store/store.h"
#include "mailfleet/v1/control.grpc.pb.h"

namespace mailfleet::collector {

struct ControlServiceOptions {
  std::string collector_id;
  std::string database_label;  // "embedded" or the server, for GetServerInfo
  std::chrono::milliseconds follow_poll{200};
};

class ControlService final : public mailfleet::v1::ControlService::Service {
 public:
  // store and dispatcher must outlive this service.
  ControlService(Store& store, ControlServiceOptions options, Dispatcher& dispatcher)
      : store_(store), options_(std::move(options)), dispatcher_(dispatcher) {}

  grpc::Status ListHosts(grpc::ServerContext* context, const mailfleet::v1::ListHostsRequest*,
                         mailfleet::v1::ListHostsResponse* response) override;
  grpc::Status GetHost(grpc::ServerContext* context, const mailfleet::v1::GetHostRequest* request,
                       mailfleet::v1::GetHostResponse* response) override;
  grpc::Status GetServerInfo(grpc::ServerContext* context,
                             const mailfleet::v1::GetServerInfoRequest*,
                             mailfleet::v1::GetServerInfoResponse* response) override;
  grpc::Status QueryLogs(grpc::ServerContext* context,
                         const mailfleet::v1::QueryLogsRequest* request,
                         mailfleet::v1::QueryLogsResponse* response) override;
  grpc::Status GetStats(grpc::ServerContext* context, const mailfleet::v1::StatsRequest* request,
                        mailfleet::v1::StatsResponse* response) override;
  // Asks the store every follow_poll for the lines committed since its last look, so it
  // works the same whichever collector replica stored them, and in whatever order the
  // streams' transactions commit.
  grpc::Status FollowLogs(grpc::ServerContext* context,
                          const mailfleet::v1::FollowLogsRequest* request,
                          grpc::ServerWriter<mailfleet::v1::StoredEvent>* writer) override;
  grpc::Status RunCommand(grpc::ServerContext* context,
                          const mailfleet::v1::CommandRequest* request,
                          grpc::ServerWriter<mailfleet::v1::CommandEvent>* writer) override;
  grpc::Status Audit(grpc::ServerContext* context, const mailfleet::v1::AuditRequest* request,
                     mailfleet::v1::AuditResponse* response) override;

 private:
  Store& store_;
  const ControlServiceOptions options_;
  Dispatcher& dispatcher_;
};

// OK for a client certificate (or plaintext on loopback); PERMISSION_DENIED otherwise.
grpc::Status CheckCaller(grpc::ServerContext* context);

// HostRecord to its wire form.
void ToProto(const HostRecord& record, mailfleet::v1::Host* host);

// NOT_FOUND naming each of `names` that is not a host of `fleet`, and where to look; else OK.
grpc::Status CheckHostsKnown(const std::vector<HostRecord>& fleet,
                             const google::protobuf::RepeatedPtrField<std::string>& names);

}  // namespace mailfleet::collector
