// PgStore: commands, their targets (the audit log) and the LISTEN/NOTIFY dispatch path.
#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "collector/store/pg_store_internal.h"
#include "common/absl_fmt.h"
#include "common/status_macros.h"
#include "fmt/ranges.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "spdlog/spdlog.h"

namespace mailfleet::collector {
namespace {

using google::protobuf::util::TimeUtil;

// The states a result may settle: sent, or given up on by a waiting caller.
constexpr const char kAwaitingResult[] = "'sent', 'timeout'";

template <typename M>
absl::StatusOr<std::string> ToJson(const M& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  auto s = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!s.ok()) return absl::InternalError(std::string(s.message()));
  return json;
}

template <typename M>
absl::Status FromJson(const std::string& json, M* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto s = google::protobuf::util::JsonStringToMessage(json, message, options);
  if (!s.ok()) return absl::DataLossError(std::string(s.message()));
  return absl::OkStatus();
}

// Host names are validated at the edge (letters, digits, '.', '-', '_'), so a space-joined
// list is an unambiguous array for string_to_array.
std::string SpaceJoined(const std::vector<std::string>& items) { return absl::StrJoin(items, " "); }

// The columns ReadTarget expects, for `t` = command_targets.
constexpr const char kTargetColumns[] =
    "t.host, t.state, t.error, coalesce(t.exit_code, 0), coalesce(t.result::text, ''), "
    "coalesce((extract(epoch from t.finished_at - t.sent_at) * 1000)::bigint, 0), "
    "coalesce((extract(epoch from t.finished_at) * 1000000)::bigint, 0)";

absl::StatusOr<mailfleet::v1::HostResult> ReadTarget(const pqxx::row& row, int at) {
  mailfleet::v1::HostResult r;
  r.set_host(row[at].as<std::string>());
  r.set_status(row[at + 1].as<std::string>());
  r.set_error(row[at + 2].as<std::string>());
  r.set_exit_code(row[at + 3].as<int>());
  std::string json = row[at + 4].as<std::string>();
  if (!json.empty()) RETURN_IF_ERROR(FromJson(json, r.mutable_result()));
  r.set_duration_ms(static_cast<uint32_t>(std::max<int64_t>(0, row[at + 5].as<int64_t>())));
  int64_t finished = row[at + 6].as<int64_t>();
  if (finished > 0) *r.mutable_finished_at() = TimeUtil::MicrosecondsToTimestamp(finished);
  return r;
}

class PgSubscription final : public Subscription {
 public:
  PgSubscription(std::string conninfo, std::vector<std::string> channels, NotifyFn fn)
      : conninfo_(std::move(conninfo)), channels_(std::move(channels)), fn_(std::move(fn)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~PgSubscription() override {
    stopping_ = true;
    thread_.join();
  }

 private:
  class Receiver final : public pqxx::notification_receiver {
   public:
    Receiver(pqxx::connection_base& c, const std::string& channel, const NotifyFn& fn)
        : pqxx::notification_receiver(c, channel), fn_(fn) {}
    void operator()(const std::string& payload, int) override { fn_(channel(), payload); }

   private:
    const NotifyFn& fn_;
  };

  void Loop() {
    bool warned = false;
    while (!stopping_) {
      try {
        pqxx::connection c(conninfo_);
        std::vector<std::unique_ptr<Receiver>> receivers;
        for (const auto& ch : channels_)
          receivers.push_back(std::make_unique<Receiver>(c, ch, fn_));
        // Listening now: whatever was announced before may have been missed.
        for (const auto& ch : channels_) fn_(ch, "");
        if (warned) spdlog::info("listening to PostgreSQL notifications again");
        warned = false;
        while (!stopping_) c.await_notification(0, 200'000);
      } catch (const std::exception& e) {
        if (!warned) spdlog::warn("PostgreSQL notifications: {}; retrying every second", e.what());
        warned = true;
        for (int i = 0; i < 10 && !stopping_; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    }
  }

  const std::string conninfo_;
  const std::vector<std::string> channels_;
  const NotifyFn fn_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Subscription>> PgStore::Listen(std::vector<std::string> channels,
                                                              NotifyFn fn) {
  return std::unique_ptr<Subscription>(
      new PgSubscription(conninfo_, std::move(channels), std::move(fn)));
}

absl::StatusOr<int64_t> PgStore::CreateCommand(const NewCommand& command, TimePoint now) {
  ASSIGN_OR_RETURN(std::string request, ToJson(command.request));
  int64_t id = 0;
  RETURN_IF_ERROR(WithConnection("recording a command", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    id = tx.exec_params1(
               "INSERT INTO commands (created_at, requested_by, action, risk, dry_run, request, "
               "collector_id) VALUES (to_timestamp($1::bigint / 1e6), $2, $3, $4, $5, $6::jsonb, "
               "$7) RETURNING id",
               ToMicros(now), command.requested_by, command.request.action(), command.risk,
               command.request.dry_run(), request, command.collector_id)[0]
             .as<int64_t>();
    bool notify = false;
    int position = 0;
    for (const auto& t : command.targets) {
      bool offline = t.state == "offline";
      tx.exec_params(
          "INSERT INTO command_targets (command_id, host, position, wave, state, expires_at, "
          "timeout_s, finished_at, error) VALUES ($1, $2, $3, $4, $5, "
          "CASE WHEN $5 = 'queued' THEN to_timestamp($6::bigint / 1e6) END, $7, "
          "CASE WHEN $8 THEN to_timestamp($9::bigint / 1e6) END, $10)",
          id, t.host, position++, t.wave, t.state, ToMicros(command.queued_until),
          static_cast<int>(command.timeout.count()), offline, ToMicros(now),
          offline ? "the host is offline; not sent (--queue-offline keeps it until the host "
                    "returns)"
                  : "");
      notify = notify || t.state == "pending";
    }
    if (notify) tx.exec(fmt::format("NOTIFY {}", kCommandsChannel));
    tx.commit();
    return absl::OkStatus();
  }));
  return id;
}

absl::Status PgStore::StartWave(int64_t command_id, int wave) {
  return WithConnection("starting a rollout wave", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE command_targets SET state = 'pending' WHERE command_id = $1 AND wave = $2 "
        "AND state = 'waiting'",
        command_id, wave);
    tx.exec(fmt::format("NOTIFY {}", kCommandsChannel));
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<Claimed>> PgStore::ClaimCommands(const std::vector<std::string>& hosts,
                                                            const std::string& collector_id,
                                                            TimePoint now) {
  std::vector<Claimed> claimed;
  if (hosts.empty()) return claimed;
  RETURN_IF_ERROR(WithConnection("claiming commands", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    // SKIP LOCKED: two replicas never wait on, or both take, the same target.
    auto rows = tx.exec_params(
        "WITH mine AS (SELECT command_id, host FROM command_targets "
        "  WHERE host = ANY (string_to_array($1, ' ')) AND state IN ('pending', 'queued') "
        "  AND (expires_at IS NULL OR expires_at > to_timestamp($3::bigint / 1e6)) "
        "  ORDER BY command_id FOR UPDATE SKIP LOCKED) "
        "UPDATE command_targets t SET state = 'sent', sent_at = to_timestamp($3::bigint / 1e6), "
        "sent_by = $2 FROM mine, commands c "
        "WHERE t.command_id = mine.command_id AND t.host = mine.host AND c.id = t.command_id "
        "RETURNING t.command_id, t.host, c.request::text, t.timeout_s, c.requested_by",
        SpaceJoined(hosts), collector_id, ToMicros(now));
    tx.commit();
    for (const auto& row : rows) {
      Claimed item;
      item.command_id = row[0].as<int64_t>();
      item.host = row[1].as<std::string>();
      mailfleet::v1::CommandRequest request;
      RETURN_IF_ERROR(FromJson(row[2].as<std::string>(), &request));
      auto& cmd = item.command;
      cmd.set_command_id(std::to_string(item.command_id));
      cmd.set_action(request.action());
      *cmd.mutable_params() = request.params();
      *cmd.mutable_filter() = request.filter();
      cmd.set_dry_run(request.dry_run());
      cmd.set_timeout_seconds(row[3].as<uint32_t>());
      cmd.set_requested_by(row[4].as<std::string>());
      claimed.push_back(std::move(item));
    }
    return absl::OkStatus();
  }));
  return claimed;
}

absl::Status PgStore::Unclaim(int64_t command_id, const std::string& host) {
  return WithConnection("giving a command back", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE command_targets SET state = CASE WHEN expires_at IS NULL THEN 'pending' "
        "ELSE 'queued' END, sent_at = NULL, sent_by = NULL "
        "WHERE command_id = $1 AND host = $2 AND state = 'sent'",
        command_id, host);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status PgStore::RecordResult(const std::string& host,
                                   const mailfleet::v1::CommandResult& result, TimePoint now) {
  int64_t command_id = 0;
  if (!absl::SimpleAtoi(result.command_id(), &command_id)) {
    return absl::InvalidArgumentError(
        fmt::format("a result for command '{}', which is no command id", result.command_id()));
  }
  static const std::vector<std::string> kFinal = {"ok", "failed", "refused", "timeout",
                                                  "cancelled"};
  std::string state = result.status();
  if (std::find(kFinal.begin(), kFinal.end(), state) == kFinal.end()) state = "failed";
  ASSIGN_OR_RETURN(std::string json, ToJson(result.result()));
  // jsonb holds no NUL character; the agent replaces them, this is the backstop.
  for (size_t at; (at = json.find("\\u0000")) != std::string::npos;) json.replace(at, 6, "\\ufffd");
  return WithConnection("recording a command result", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto updated = tx.exec_params(
        fmt::format("UPDATE command_targets SET state = $3, finished_at = "
                    "to_timestamp($4::bigint / 1e6), exit_code = $5, error = $6, "
                    "result = $7::jsonb WHERE command_id = $1 AND host = $2 AND "
                    "state IN ({})",
                    kAwaitingResult),
        command_id, host, state, ToMicros(now), result.exit_code(), result.error(), json);
    if (updated.affected_rows() == 0) {
      spdlog::warn("agent {}: result for command {} that awaits none from it; ignored", host,
                   command_id);
    }
    tx.exec_params("SELECT pg_notify($1, $2)", kResultsChannel, std::to_string(command_id));
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status PgStore::SettleTargets(int64_t command_id, const std::vector<std::string>& from,
                                    const std::string& to, const std::string& error, TimePoint now,
                                    int wave) {
  return WithConnection("settling command targets", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE command_targets SET state = $3, error = $4, "
        "finished_at = to_timestamp($5::bigint / 1e6) "
        "WHERE command_id = $1 AND state = ANY (string_to_array($2, ' ')) "
        "AND ($6 = -2 OR wave = $6)",
        command_id, SpaceJoined(from), to, error, ToMicros(now), wave);
    tx.exec_params("SELECT pg_notify($1, $2)", kResultsChannel, std::to_string(command_id));
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status PgStore::ExpireCommands(TimePoint now) {
  return WithConnection("expiring commands", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto rows = tx.exec_params(
        "UPDATE command_targets SET state = CASE state WHEN 'sent' THEN 'timeout' "
        "ELSE 'expired' END, finished_at = to_timestamp($1::bigint / 1e6), "
        "error = CASE state WHEN 'sent' THEN format('no result from the agent within %s s', "
        "timeout_s + 30) ELSE 'the host did not come back before the command expired' END "
        "WHERE (state = 'queued' AND expires_at <= to_timestamp($1::bigint / 1e6)) OR "
        "(state = 'sent' AND sent_at + make_interval(secs => timeout_s + 30) <= "
        "to_timestamp($1::bigint / 1e6)) RETURNING command_id",
        ToMicros(now));
    // Targets whose rollout nobody drives any more (the collector running it went away): a
    // wave starts within (timeout + grace) of the one before, so past that it never will.
    auto orphans = tx.exec_params(
        "UPDATE command_targets t SET state = 'expired', "
        "finished_at = to_timestamp($1::bigint / 1e6), "
        "error = 'not sent: the collector running this rollout went away' "
        "FROM commands c WHERE c.id = t.command_id AND t.state IN ('pending', 'waiting') "
        "AND c.created_at + make_interval(secs => (t.wave + 1) * (t.timeout_s + 60) + 600) <= "
        "to_timestamp($1::bigint / 1e6) RETURNING t.command_id",
        ToMicros(now));
    std::set<int64_t> ids;
    for (const auto& row : rows) ids.insert(row[0].as<int64_t>());
    for (const auto& row : orphans) ids.insert(row[0].as<int64_t>());
    for (int64_t id : ids) {
      tx.exec_params("SELECT pg_notify($1, $2)", kResultsChannel, std::to_string(id));
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<mailfleet::v1::HostResult>> PgStore::CommandTargets(int64_t command_id) {
  std::vector<mailfleet::v1::HostResult> out;
  RETURN_IF_ERROR(
      WithConnection("reading command results", [&](pqxx::connection& c) -> absl::Status {
        pqxx::read_transaction tx(c);
        auto rows = tx.exec_params(
            fmt::format(
                "SELECT {} FROM command_targets t WHERE t.command_id = $1 ORDER BY t.position",
                kTargetColumns),
            command_id);
        for (const auto& row : rows) {
          ASSIGN_OR_RETURN(auto r, ReadTarget(row, 0));
          out.push_back(std::move(r));
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::Status PgStore::UpdateTargetResult(int64_t command_id, const std::string& host,
                                         const mailfleet::v1::ActionResult& result) {
  ASSIGN_OR_RETURN(std::string json, ToJson(result));
  return WithConnection("updating a command result", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE command_targets SET result = $3::jsonb WHERE command_id = $1 AND host = $2",
        command_id, host, json);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status PgStore::SetCommandFleet(int64_t command_id,
                                      const std::vector<mailfleet::v1::CheckResult>& fleet) {
  mailfleet::v1::CommandDone holder;
  for (const auto& c : fleet) *holder.add_fleet() = c;
  ASSIGN_OR_RETURN(std::string json, ToJson(holder));
  return WithConnection("recording fleet checks", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("UPDATE commands SET fleet = $2::jsonb WHERE id = $1", command_id, json);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::pair<int64_t, int64_t>> PgStore::AuthFailures(const std::string& host,
                                                                  TimePoint since) {
  std::pair<int64_t, int64_t> counts;
  RETURN_IF_ERROR(WithConnection("counting auth failures", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto row = tx.exec_params1(
        "SELECT count(*) FILTER (WHERE kind = 'dovecot_auth_failure'), "
        "count(*) FILTER (WHERE kind = 'sasl_failure') FROM events "
        "WHERE host = $1 AND time >= to_timestamp($2::bigint / 1e6) "
        "AND kind IN ('dovecot_auth_failure', 'sasl_failure')",
        host, ToMicros(since));
    counts = {row[0].as<int64_t>(), row[1].as<int64_t>()};
    return absl::OkStatus();
  }));
  return counts;
}

absl::StatusOr<mailfleet::v1::CheckResult> PgStore::LogErrors(const std::string& host,
                                                              TimePoint since) {
  mailfleet::v1::CheckResult check;
  check.set_id("logs.errors");
  RETURN_IF_ERROR(WithConnection("counting log errors", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto counts = tx.exec_params1(
        "SELECT count(*) FILTER (WHERE severity = 'warning'), "
        "count(*) FILTER (WHERE severity = 'error'), count(*) FILTER (WHERE severity = 'fatal'), "
        "count(*) FILTER (WHERE severity = 'panic') FROM events "
        "WHERE host = $1 AND time >= to_timestamp($2::bigint / 1e6) AND severity <> 'info'",
        host, ToMicros(since));
    int64_t warnings = counts[0].as<int64_t>(), errors = counts[1].as<int64_t>(),
            fatals = counts[2].as<int64_t>(), panics = counts[3].as<int64_t>();
    // The message after "program[pid]: " (and a queue id), grouped.
    auto top = tx.exec_params(
        "SELECT severity, left(regexp_replace(raw, '^[^]]*\\]: ([0-9A-Za-z]+: )?', ''), 160) AS m, "
        "count(*) FROM events WHERE host = $1 AND time >= to_timestamp($2::bigint / 1e6) "
        "AND severity <> 'info' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 3",
        host, ToMicros(since));
    std::vector<std::string> lines;
    for (const auto& row : top) {
      lines.push_back(fmt::format("{}x {}: {}", row[2].as<int64_t>(), row[0].as<std::string>(),
                                  row[1].as<std::string>()));
    }
    int64_t minutes =
        std::chrono::duration_cast<std::chrono::minutes>(std::chrono::system_clock::now() - since)
            .count();
    check.set_summary(fmt::format("last {} min: {} warnings, {} errors, {} fatal, {} panic",
                                  minutes, warnings, errors, fatals, panics));
    check.set_evidence(lines.empty() ? "the stored log lines of the host"
                                     : fmt::format("top: {}", fmt::join(lines, " | ")));
    if (fatals + panics > 0) {
      check.set_status("fail");
      check.set_remedy(
          "Read the fatal lines (`mailfleet logs --host HOST --grep fatal --since 1h`): a daemon "
          "stopped; fix what it names, then restart the service");
    } else if (errors > 0 || warnings >= 50) {
      check.set_status("warn");
      check.set_remedy("Read the top messages (`mailfleet logs --host HOST --grep warning`)");
    } else {
      check.set_status("ok");
    }
    return absl::OkStatus();
  }));
  return check;
}

absl::StatusOr<mailfleet::v1::AuditResponse> PgStore::Audit(
    const mailfleet::v1::AuditRequest& request) {
  mailfleet::v1::AuditResponse response;
  int64_t since = request.has_since() ? TimeUtil::TimestampToMicroseconds(request.since()) : 0;
  int64_t until = request.has_until() ? TimeUtil::TimestampToMicroseconds(request.until())
                                      : std::numeric_limits<int64_t>::max() / 2;
  std::vector<std::string> hosts(request.hosts().begin(), request.hosts().end());
  int limit = request.limit() == 0 ? 100 : static_cast<int>(std::min(request.limit(), 10000u));
  // "queue." selects every queue action; anything else is an exact name.
  std::string action = request.action();
  bool prefix = !action.empty() && action.back() == '.';
  RETURN_IF_ERROR(WithConnection("reading the audit log", [&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    auto commands = tx.exec_params(
        "SELECT c.id, (extract(epoch from c.created_at) * 1000000)::bigint, c.requested_by, "
        "c.action, c.risk, c.request::text, coalesce(c.fleet::text, '') FROM commands c "
        "WHERE c.created_at >= to_timestamp($1::bigint / 1e6) "
        "AND c.created_at < to_timestamp($2::bigint / 1e6) "
        "AND ($3 = '' OR c.action = $3 OR ($4 AND starts_with(c.action, $3))) "
        "AND ($5 = '' OR EXISTS (SELECT 1 FROM command_targets h WHERE h.command_id = c.id "
        "  AND h.host = ANY (string_to_array($5, ' ')))) "
        "AND ($7 = 0 OR c.id = $7) "
        "ORDER BY c.id DESC LIMIT $6",
        since, until, action, prefix, SpaceJoined(hosts), limit, request.command_id());
    if (commands.empty()) return absl::OkStatus();
    std::vector<std::string> ids;
    std::map<int64_t, mailfleet::v1::AuditEntry*> by_id;
    for (const auto& row : commands) {
      auto* e = response.add_entries();
      e->set_command_id(row[0].as<int64_t>());
      *e->mutable_created_at() = TimeUtil::MicrosecondsToTimestamp(row[1].as<int64_t>());
      e->set_requested_by(row[2].as<std::string>());
      e->set_action(row[3].as<std::string>());
      e->set_risk(row[4].as<std::string>());
      RETURN_IF_ERROR(FromJson(row[5].as<std::string>(), e->mutable_request()));
      if (std::string fleet = row[6].as<std::string>(); !fleet.empty()) {
        mailfleet::v1::CommandDone holder;
        RETURN_IF_ERROR(FromJson(fleet, &holder));
        *e->mutable_fleet() = holder.fleet();
      }
      ids.push_back(std::to_string(e->command_id()));
      by_id[e->command_id()] = e;
    }
    auto targets =
        tx.exec_params(fmt::format("SELECT t.command_id, {} FROM command_targets t "
                                   "WHERE t.command_id = ANY (string_to_array($1, ' ')::bigint[]) "
                                   "AND ($2 = '' OR t.host = ANY (string_to_array($2, ' '))) "
                                   "ORDER BY t.command_id, t.position",
                                   kTargetColumns),
                       SpaceJoined(ids), SpaceJoined(hosts));
    for (const auto& row : targets) {
      ASSIGN_OR_RETURN(auto r, ReadTarget(row, 1));
      *by_id[row[0].as<int64_t>()]->add_results() = std::move(r);
    }
    return absl::OkStatus();
  }));
  return response;
}

}  // namespace mailfleet::collector
