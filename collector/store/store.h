// The collector's storage edge: everything the collector keeps goes through Store.
// PgStore is the one real implementation (PostgreSQL); unit tests may use a fake.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mailfleet/v1/agent.pb.h"

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
};

struct Session {
  std::string host;
  std::string session_id;  // the agent process's Hello.session_id
  std::string collector_id;
  std::string peer;
};

class Store {
 public:
  virtual ~Store() = default;

  // Creates or updates the host named session.host and marks it connected. Never duplicates.
  virtual absl::Status RegisterHost(const Session& session,
                                    const mailfleet::v1::Inventory& inventory, TimePoint now) = 0;
  // Records a heartbeat: last_seen = now, iff the host's current session is `session`.
  virtual absl::Status TouchHost(const Session& session, TimePoint now) = 0;
  // Marks the host disconnected iff its current session is `session` (a newer stream of the
  // same host, maybe on another replica, is left alone).
  virtual absl::Status MarkDisconnected(const Session& session, TimePoint now) = 0;

  virtual absl::StatusOr<std::vector<HostRecord>> ListHosts() = 0;
  // NotFound when no host has that name.
  virtual absl::StatusOr<HostRecord> GetHost(const std::string& name) = 0;
  virtual absl::StatusOr<int> SchemaVersion() = 0;
};

}  // namespace mailfleet::collector
