// The collector's storage edge: everything the collector keeps goes through Store.
// PgStore is the one real implementation (PostgreSQL); unit tests may use a fake.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mailfleet/v1/agent.pb.h"
#include "mailfleet/v1/control.pb.h"

namespace mailfleet::collector {

using TimePoint = std::chrono::system_clock::time_point;

struct HostRecord {
  std::string name;
  mailfleet::v1::Inventory inventory;
  bool connected = false;  // stream open and a heartbeat within the stale window
  TimePoint first_seen;
  TimePoint last_seen;
  std::optional<TimePoint> connected_since;
  std::string collector_id;
  std::string peer;
  mailfleet::v1::Heartbeat pipeline;  // the last heartbeat
};

struct Session {
  std::string host;
  std::string session_id;  // the agent process's Hello.session_id
  std::string collector_id;
  std::string peer;
};

struct IngestResult {
  uint32_t inserted = 0;
  uint32_t duplicates = 0;  // at or below the source's watermark: sent before
};

class Store {
 public:
  virtual ~Store() = default;

  // Stores the batch's lines that lie beyond the source's watermark and moves the watermark,
  // in one transaction; a batch sent again inserts nothing twice. Thread-safe.
  virtual absl::StatusOr<IngestResult> IngestBatch(const std::string& host,
                                                   const mailfleet::v1::LogBatch& batch,
                                                   TimePoint received) = 0;
  // The newest `limit` matching lines, oldest first; with after_id > 0, the lines stored
  // after that id (for following), oldest first.
  virtual absl::StatusOr<std::vector<mailfleet::v1::StoredEvent>> QueryEvents(
      const mailfleet::v1::LogQuery& query, int64_t after_id) = 0;
  // A pflogsumm-style summary per host and for the fleet.
  virtual absl::StatusOr<mailfleet::v1::StatsResponse> Stats(
      const mailfleet::v1::StatsRequest& request) = 0;
  // The id of the newest stored line (0 when none).
  virtual absl::StatusOr<int64_t> LastEventId() = 0;

  // Creates or updates the host named session.host and marks it connected. Never duplicates.
  virtual absl::Status RegisterHost(const Session& session,
                                    const mailfleet::v1::Inventory& inventory, TimePoint now) = 0;
  // Records a heartbeat: last_seen = now and its pipeline health, iff the host's current
  // session is `session`.
  virtual absl::Status TouchHost(const Session& session, TimePoint now,
                                 const mailfleet::v1::Heartbeat& heartbeat) = 0;
  // Marks the host disconnected iff its current session is `session` (a newer stream of the
  // same host, maybe on another replica, is left alone).
  virtual absl::Status MarkDisconnected(const Session& session, TimePoint now) = 0;

  virtual absl::StatusOr<std::vector<HostRecord>> ListHosts() = 0;
  // NotFound when no host has that name.
  virtual absl::StatusOr<HostRecord> GetHost(const std::string& name) = 0;
  virtual absl::StatusOr<int> SchemaVersion() = 0;
};

}  // namespace mailfleet::collector
