// The collector's storage edge: everything the collector keeps goes through Store.
// PgStore is the one real implementation (PostgreSQL); unit tests may use a fake.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
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

// A command as the control API accepted it, with its targets in rollout order.
struct NewCommand {
  std::string requested_by;
  std::string risk;
  std::string collector_id;
  mailfleet::v1::CommandRequest request;
  struct Target {
    std::string host;
    int wave = 0;
    std::string state;  // pending, waiting, queued or offline
  };
  std::vector<Target> targets;
  std::chrono::seconds timeout{60};
  TimePoint queued_until;  // for queued targets
};

// A target claimed for sending: the command as its agent receives it.
struct Claimed {
  int64_t command_id = 0;
  std::string host;
  mailfleet::v1::Command command;
};

// Called with (channel, payload) for each notification; with an empty payload after a
// (re)connect, when notifications may have been missed.
using NotifyFn = std::function<void(const std::string& channel, const std::string& payload)>;

// Ends its listening when destroyed.
class Subscription {
 public:
  virtual ~Subscription() = default;
};

inline constexpr char kCommandsChannel[] = "mailfleet_commands";
inline constexpr char kResultsChannel[] = "mailfleet_results";

class Store {
 public:
  virtual ~Store() = default;

  // Stores the batches' lines that lie beyond their sources' watermarks and moves the
  // watermarks, all in one transaction; a batch sent again inserts nothing twice. The batches
  // are one host's, in the order it sent them. Thread-safe.
  // `on_begun`, if set, is called once the transaction holds its connection.
  virtual absl::StatusOr<IngestResult> IngestBatches(
      const std::string& host, const std::vector<const mailfleet::v1::LogBatch*>& batches,
      TimePoint received, const std::function<void()>& on_begun = nullptr) = 0;
  absl::StatusOr<IngestResult> IngestBatch(const std::string& host,
                                           const mailfleet::v1::LogBatch& batch,
                                           TimePoint received) {
    return IngestBatches(host, {&batch}, received);
  }
  // IngestBatches in two steps, so that the lines of one group of batches are stored while
  // the group before it still commits. IngestAhead starts the transaction and stores the
  // lines beyond `expected` (per source id: the watermark the earlier group will leave;
  // sources not named are read as they are now), on a connection of its own, or returns
  // nullptr when none is free at once (it never waits for one). FinishIngest then locks the
  // sources and commits if their watermarks are the ones the lines were chosen by; if not, it
  // stores the batches again from the start as IngestBatches would, on the same connection.
  // Dropping the PendingIngest rolls back. `batches` must outlive it.
  class PendingIngest {
   public:
    virtual ~PendingIngest() = default;
  };
  virtual absl::StatusOr<std::unique_ptr<PendingIngest>> IngestAhead(
      const std::string& host, const std::vector<const mailfleet::v1::LogBatch*>& batches,
      TimePoint received, const std::map<std::string, uint64_t>& expected) = 0;
  virtual absl::StatusOr<IngestResult> FinishIngest(std::unique_ptr<PendingIngest> pending) = 0;
  // The newest `limit` matching lines, oldest first.
  virtual absl::StatusOr<std::vector<mailfleet::v1::StoredEvent>> QueryEvents(
      const mailfleet::v1::LogQuery& query) = 0;
  // A pflogsumm-style summary per host and for the fleet.
  virtual absl::StatusOr<mailfleet::v1::StatsResponse> Stats(
      const mailfleet::v1::StatsRequest& request) = 0;
  // `logs --follow`: where one follower stands. Opaque outside the store.
  struct FollowCursor {
    int64_t low = 0;       // every line not yet shown has a larger id
    std::string snapshot;  // the last whole look's snapshot: its lines have been shown
    // After a look that stopped at its size limit: its snapshot, and the id up to which that
    // snapshot's lines have been shown.
    std::string partial_snapshot;
    int64_t partial_upto = 0;
    bool caught_up = true;  // false: the last look stopped at its limit; look again at once
  };
  // A cursor at the present: lines that commit from now on are new.
  virtual absl::StatusOr<FollowCursor> StartFollow() = 0;
  // The matching lines that committed since the cursor's last look, by id, at most about
  // 10,000 at a time (then caught_up is false); each once, none left out, in whatever order
  // the ingest transactions commit.
  virtual absl::StatusOr<std::vector<mailfleet::v1::StoredEvent>> FollowEvents(
      const mailfleet::v1::LogQuery& query, FollowCursor* cursor) = 0;

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

  // Records a command and its targets (the audit entry) and notifies the replicas when any
  // target is pending. Returns its id.
  virtual absl::StatusOr<int64_t> CreateCommand(const NewCommand& command, TimePoint now) = 0;
  // Makes a rollout wave's waiting targets pending, and notifies.
  virtual absl::Status StartWave(int64_t command_id, int wave) = 0;
  // Takes the pending and queued targets of these hosts for sending (state sent, sent_by
  // collector_id); a target is claimed by one replica only.
  virtual absl::StatusOr<std::vector<Claimed>> ClaimCommands(const std::vector<std::string>& hosts,
                                                             const std::string& collector_id,
                                                             TimePoint now) = 0;
  // Gives a claimed target back (its agent went away before it was sent).
  virtual absl::Status Unclaim(int64_t command_id, const std::string& host) = 0;
  // Settles the target of host with the agent's result and notifies. A result for a target
  // that is not awaiting one (settled already, or not this host's) changes nothing.
  virtual absl::Status RecordResult(const std::string& host,
                                    const mailfleet::v1::CommandResult& result, TimePoint now) = 0;
  // Moves the command's targets in any of `from` states to the final state `to`, with error;
  // only those of rollout wave `wave` when it is not kAllWaves.
  static constexpr int kAllWaves = -2;
  virtual absl::Status SettleTargets(int64_t command_id, const std::vector<std::string>& from,
                                     const std::string& to, const std::string& error, TimePoint now,
                                     int wave = kAllWaves) = 0;
  // Expires queued targets past their time and times out sent ones with no result.
  virtual absl::Status ExpireCommands(TimePoint now) = 0;
  // Every target of the command with its state now, in rollout order.
  virtual absl::StatusOr<std::vector<mailfleet::v1::HostResult>> CommandTargets(
      int64_t command_id) = 0;
  virtual absl::StatusOr<mailfleet::v1::AuditResponse> Audit(
      const mailfleet::v1::AuditRequest& request) = 0;
  // logs.errors for diagnose: the host's warning/error/fatal/panic lines since `since`, with
  // the most frequent messages.
  virtual absl::StatusOr<mailfleet::v1::CheckResult> LogErrors(const std::string& host,
                                                               TimePoint since) = 0;
  // Authentication failures the host logged since `since`: Dovecot's, then Postfix SASL's.
  virtual absl::StatusOr<std::pair<int64_t, int64_t>> AuthFailures(const std::string& host,
                                                                   TimePoint since) = 0;
  // Replaces the stored result of the command's target on host (diagnose's, after the
  // collector added its own checks to what the agent reported).
  virtual absl::Status UpdateTargetResult(int64_t command_id, const std::string& host,
                                          const mailfleet::v1::ActionResult& result) = 0;
  // Keeps a diagnose run's fleet checks with the command.
  virtual absl::Status SetCommandFleet(int64_t command_id,
                                       const std::vector<mailfleet::v1::CheckResult>& fleet) = 0;
  // Listens on the channels until the Subscription is destroyed; fn runs on its thread.
  virtual absl::StatusOr<std::unique_ptr<Subscription>> Listen(std::vector<std::string> channels,
                                                               NotifyFn fn) = 0;
};

}  // namespace mailfleet::collector
