// Store on PostgreSQL (libpqxx 6.4). Create() connects and applies pending migrations.
//   ASSIGN_OR_RETURN(auto store, PgStore::Create("host=/run/pg dbname=mailfleet", opts));
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "collector/store/store.h"
#include "pqxx/connection"

namespace mailfleet::collector {

struct PgStoreOptions {
  // A host whose last heartbeat is older than this is reported disconnected, even if no
  // collector noticed its stream end (a collector killed with -9, say).
  std::chrono::seconds stale_after{30};
};

class PgStore final : public Store {
 public:
  // Connects to `conninfo` (a libpq keyword string or postgresql:// URL) and migrates.
  static absl::StatusOr<std::unique_ptr<PgStore>> Create(const std::string& conninfo,
                                                         PgStoreOptions options);
  ~PgStore() override;

  absl::Status RegisterHost(const Session& session, const mailfleet::v1::Inventory& inventory,
                            TimePoint now) override;
  absl::Status TouchHost(const Session& session, TimePoint now) override;
  absl::Status MarkDisconnected(const Session& session, TimePoint now) override;
  absl::StatusOr<std::vector<HostRecord>> ListHosts() override;
  absl::StatusOr<HostRecord> GetHost(const std::string& name) override;
  absl::StatusOr<int> SchemaVersion() override;

  // Applies every migration not yet recorded in schema_migrations, in one transaction, under
  // an advisory lock (so replicas starting together do not race). A second call changes nothing.
  absl::Status Migrate();

 private:
  PgStore(std::string conninfo, PgStoreOptions options);
  // Runs fn with a live connection, reconnecting once if the server went away, and turns
  // libpqxx exceptions into a Status naming `what`.
  template <typename Fn>
  absl::Status WithConnection(const char* what, Fn&& fn);

  const std::string conninfo_;
  const PgStoreOptions options_;
  absl::Mutex mu_;
  std::unique_ptr<pqxx::connection> conn_ ABSL_GUARDED_BY(mu_);
};

// "host=/path dbname=x" or "postgresql://user:secret@db/x" with any password removed, for logs.
std::string RedactConninfo(const std::string& conninfo);

}  // namespace mailfleet::collector
