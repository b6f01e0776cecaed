// Store on PostgreSQL (libpqxx 6.4). Create() connects and applies pending migrations.
//   ASSIGN_OR_RETURN(auto store, PgStore::Create("host=/run/pg dbname=mailfleet", opts));
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "collector/store/connection_pool.h"
#include "collector/store/pg_raw.h"
#include "collector/store/store.h"
#include "pqxx/connection"

namespace mailfleet::collector {

struct PgStoreOptions {
  // A host whose last heartbeat is older than this is reported disconnected, even if no
  // collector noticed its stream end (a collector killed with -9, say).
  std::chrono::seconds stale_after{30};
  // Connections opened at most, for queries and again for log ingest; each one serves one
  // call at a time.
  int pool_size = 4;
  // Days of events kept; older day partitions are dropped by DropExpiredPartitions().
  int retention_days = 30;
};

class PgStore final : public Store {
 public:
  // Connects to `conninfo` (a libpq keyword string or postgresql:// URL) and migrates.
  static absl::StatusOr<std::unique_ptr<PgStore>> Create(const std::string& conninfo,
                                                         PgStoreOptions options);
  ~PgStore() override;

  absl::Status RegisterHost(const Session& session, const mailfleet::v1::Inventory& inventory,
                            TimePoint now) override;
  absl::Status TouchHost(const Session& session, TimePoint now,
                         const mailfleet::v1::Heartbeat& heartbeat) override;
  absl::Status MarkDisconnected(const Session& session, TimePoint now) override;
  absl::StatusOr<std::vector<HostRecord>> ListHosts() override;
  absl::StatusOr<HostRecord> GetHost(const std::string& name) override;
  absl::StatusOr<int> SchemaVersion() override;
  absl::StatusOr<IngestResult> IngestBatches(
      const std::string& host, const std::vector<const mailfleet::v1::LogBatch*>& batches,
      TimePoint received, const std::function<void()>& on_begun = nullptr) override;
  absl::StatusOr<std::unique_ptr<PendingIngest>> IngestAhead(
      const std::string& host, const std::vector<const mailfleet::v1::LogBatch*>& batches,
      TimePoint received, const std::map<std::string, uint64_t>& expected) override;
  absl::StatusOr<IngestResult> FinishIngest(std::unique_ptr<PendingIngest> pending) override;
  absl::StatusOr<std::vector<mailfleet::v1::StoredEvent>> QueryEvents(
      const mailfleet::v1::LogQuery& query) override;
  absl::StatusOr<FollowCursor> StartFollow() override;
  absl::StatusOr<std::vector<mailfleet::v1::StoredEvent>> FollowEvents(
      const mailfleet::v1::LogQuery& query, FollowCursor* cursor) override;
  absl::StatusOr<mailfleet::v1::StatsResponse> Stats(
      const mailfleet::v1::StatsRequest& request) override;

  absl::StatusOr<int64_t> CreateCommand(const NewCommand& command, TimePoint now) override;
  absl::Status StartWave(int64_t command_id, int wave) override;
  absl::StatusOr<std::vector<Claimed>> ClaimCommands(const std::vector<std::string>& hosts,
                                                     const std::string& collector_id,
                                                     TimePoint now) override;
  absl::Status Unclaim(int64_t command_id, const std::string& host) override;
  absl::Status RecordResult(const std::string& host, const mailfleet::v1::CommandResult& result,
                            TimePoint now) override;
  absl::Status SettleTargets(int64_t command_id, const std::vector<std::string>& from,
                             const std::string& to, const std::string& error, TimePoint now,
                             int wave = kAllWaves) override;
  absl::Status ExpireCommands(TimePoint now) override;
  absl::StatusOr<std::vector<mailfleet::v1::HostResult>> CommandTargets(
      int64_t command_id) override;
  absl::StatusOr<mailfleet::v1::AuditResponse> Audit(
      const mailfleet::v1::AuditRequest& request) override;
  absl::StatusOr<mailfleet::v1::CheckResult> LogErrors(const std::string& host,
                                                       TimePoint since) override;
  absl::StatusOr<std::pair<int64_t, int64_t>> AuthFailures(const std::string& host,
                                                           TimePoint since) override;
  absl::Status UpdateTargetResult(int64_t command_id, const std::string& host,
                                  const mailfleet::v1::ActionResult& result) override;
  absl::Status SetCommandFleet(int64_t command_id,
                               const std::vector<mailfleet::v1::CheckResult>& fleet) override;
  absl::StatusOr<std::unique_ptr<Subscription>> Listen(std::vector<std::string> channels,
                                                       NotifyFn fn) override;

  // Drops the day partitions older than retention_days. Returns how many went.
  absl::StatusOr<int> DropExpiredPartitions(TimePoint now);

  // Summarises the filled block ranges of the events index (time, id) that have no summary
  // yet, in every partition. Until then a time window or an id range reads those ranges
  // whole. Returns how many were summarised. Cheap when nothing is new: the collector calls
  // it every second.
  absl::StatusOr<int64_t> SummarizeEvents();

  // Analyses the events partitions that hold rows but were never analysed (nor vacuumed): a
  // new day's partition, right after its first lines. Until then the planner has no idea of
  // its times and scans it whole for a time window. Returns how many it analysed; cheap when
  // there are none. Autovacuum keeps them analysed after that.
  absl::StatusOr<int> AnalyzeNewPartitions();

  // Applies every migration not yet recorded in schema_migrations, in one transaction, under
  // an advisory lock (so replicas starting together do not race). A second call changes nothing.
  absl::Status Migrate();

 private:
  PgStore(std::string conninfo, PgStoreOptions options);
  // Runs fn with a live connection, reconnecting once if the server went away, and turns
  // libpqxx exceptions into a Status naming `what`.
  template <typename Fn>
  absl::Status WithConnection(const char* what, Fn&& fn);
  // The one value that `sql` selects.
  template <typename T>
  absl::StatusOr<T> Scalar(const char* what, const char* sql);
  // Creates the day partitions that rows of these days (days since the epoch) need.
  void EnsurePartitions(pqxx::connection& c, const std::vector<int64_t>& days, TimePoint now);
  class Ingest;

  const std::string conninfo_;
  const PgStoreOptions options_;
  ConnectionPool<pqxx::connection> pool_;
  ConnectionPool<RawConnection> raw_pool_;  // the ingest path's own (binary COPY)
  absl::Mutex partitions_mu_;
  std::set<int64_t> partition_days_ ABSL_GUARDED_BY(partitions_mu_);  // known to exist
};

// "host=/path dbname=x" or "postgresql://user:secret@db/x" with any password removed, for logs.
std::string RedactConninfo(const std::string& conninfo);

}  // namespace mailfleet::collector
