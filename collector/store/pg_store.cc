#include "collector/store/pg_store.h"

#include <regex>

#include "collector/store/migrations.h"
#include "common/status_macros.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "pqxx/pqxx"
#include "spdlog/spdlog.h"

namespace mailfleet::collector {
namespace {

constexpr int64_t kMigrationLockKey = 0x6d61696c666c74;  // "mailflt"

int64_t ToMicros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
TimePoint FromMicros(int64_t us) { return TimePoint(std::chrono::microseconds(us)); }

// Columns every host query selects, in the order ReadHost expects.
constexpr const char kHostColumns[] =
    "name, inventory::text, (connected AND last_seen > now() - make_interval(secs => $1)), "
    "(extract(epoch from first_seen) * 1000000)::bigint, "
    "(extract(epoch from last_seen) * 1000000)::bigint, "
    "(extract(epoch from connected_since) * 1000000)::bigint, collector_id, peer";

absl::StatusOr<HostRecord> ReadHost(const pqxx::row& row) {
  HostRecord host;
  host.name = row[0].c_str();
  auto parsed = google::protobuf::util::JsonStringToMessage(row[1].c_str(), &host.inventory);
  if (!parsed.ok()) {
    return absl::DataLossError(
        fmt::format("hosts.inventory of '{}' is not valid: {}", host.name, parsed.ToString()));
  }
  host.connected = row[2].as<bool>();
  host.first_seen = FromMicros(row[3].as<int64_t>());
  host.last_seen = FromMicros(row[4].as<int64_t>());
  if (!row[5].is_null() && host.connected) host.connected_since = FromMicros(row[5].as<int64_t>());
  host.collector_id = row[6].c_str();
  host.peer = row[7].c_str();
  return host;
}

}  // namespace

std::string RedactConninfo(const std::string& conninfo) {
  static const std::regex kUrlPassword(R"((://[^:/@]*):[^@]*@)");
  static const std::regex kKeywordPassword(R"(password\s*=\s*('[^']*'|\S+))");
  std::string out = std::regex_replace(conninfo, kUrlPassword, "$1:***@");
  return std::regex_replace(out, kKeywordPassword, "password=***");
}

PgStore::PgStore(std::string conninfo, PgStoreOptions options)
    : conninfo_(std::move(conninfo)), options_(options) {}

PgStore::~PgStore() = default;

absl::StatusOr<std::unique_ptr<PgStore>> PgStore::Create(const std::string& conninfo,
                                                         PgStoreOptions options) {
  auto store = std::unique_ptr<PgStore>(new PgStore(conninfo, options));
  RETURN_IF_ERROR(store->Migrate());
  return store;
}

template <typename Fn>
absl::Status PgStore::WithConnection(const char* what, Fn&& fn) {
  absl::MutexLock lock(&mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (conn_ == nullptr || !conn_->is_open()) {
        conn_ = std::make_unique<pqxx::connection>(conninfo_);
      }
      return fn(*conn_);
    } catch (const pqxx::broken_connection& e) {
      conn_.reset();
      if (attempt == 1) {
        return absl::UnavailableError(fmt::format(
            "{}: cannot connect to PostgreSQL at '{}': {}; check that the server runs and "
            "--database is right",
            what, RedactConninfo(conninfo_), e.what()));
      }
    } catch (const pqxx::sql_error& e) {
      return absl::InternalError(fmt::format("{}: SQL error {}: {}", what, e.sqlstate(), e.what()));
    } catch (const std::exception& e) {
      conn_.reset();
      return absl::InternalError(fmt::format("{}: {}", what, e.what()));
    }
  }
  return absl::InternalError(what);
}

absl::Status PgStore::Migrate() {
  return WithConnection("applying migrations", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    tx.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version integer PRIMARY KEY, name text NOT NULL, "
        "applied_at timestamptz NOT NULL DEFAULT now())");
    int current = tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
    int applied = 0;
    for (const Migration& m : Migrations()) {
      if (m.version <= current) continue;
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                     m.name);
      ++applied;
    }
    tx.commit();
    if (applied > 0) {
      spdlog::info("applied {} migration(s); schema version {}", applied,
                   Migrations().empty() ? 0 : Migrations().back().version);
    }
    return absl::OkStatus();
  });
}

absl::Status PgStore::RegisterHost(const Session& session,
                                   const mailfleet::v1::Inventory& inventory, TimePoint now) {
  std::string json;
  auto printed = google::protobuf::util::MessageToJsonString(inventory, &json);
  if (!printed.ok()) return absl::InternalError(printed.ToString());
  return WithConnection("registering a host", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO hosts (name, inventory, postfix_version, dovecot_version, first_seen, "
        "last_seen, connected, connected_since, collector_id, session_id, peer) "
        "VALUES ($1, $2::jsonb, $3, $4, to_timestamp($5::bigint / 1e6), "
        "to_timestamp($5::bigint / 1e6), true, to_timestamp($5::bigint / 1e6), $6, $7, $8) "
        "ON CONFLICT (name) DO UPDATE SET inventory = EXCLUDED.inventory, "
        "postfix_version = EXCLUDED.postfix_version, dovecot_version = EXCLUDED.dovecot_version, "
        "last_seen = EXCLUDED.last_seen, connected = true, "
        "connected_since = EXCLUDED.connected_since, collector_id = EXCLUDED.collector_id, "
        "session_id = EXCLUDED.session_id, peer = EXCLUDED.peer",
        session.host, json, inventory.postfix_version(), inventory.dovecot_version(), ToMicros(now),
        session.collector_id, session.session_id, session.peer);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status PgStore::TouchHost(const Session& session, TimePoint now) {
  return WithConnection("recording a heartbeat", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE hosts SET last_seen = to_timestamp($3::bigint / 1e6), connected = true "
        "WHERE name = $1 AND session_id = $2",
        session.host, session.session_id, ToMicros(now));
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status PgStore::MarkDisconnected(const Session& session, TimePoint now) {
  return WithConnection("marking a host disconnected", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE hosts SET connected = false, last_seen = greatest(last_seen, "
        "to_timestamp($3::bigint / 1e6)) WHERE name = $1 AND session_id = $2",
        session.host, session.session_id, ToMicros(now));
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<HostRecord>> PgStore::ListHosts() {
  std::vector<HostRecord> hosts;
  RETURN_IF_ERROR(WithConnection("listing hosts", [&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    auto rows = tx.exec_params(fmt::format("SELECT {} FROM hosts ORDER BY name", kHostColumns),
                               static_cast<int64_t>(options_.stale_after.count()));
    for (const auto& row : rows) {
      ASSIGN_OR_RETURN(HostRecord host, ReadHost(row));
      hosts.push_back(std::move(host));
    }
    return absl::OkStatus();
  }));
  return hosts;
}

absl::StatusOr<HostRecord> PgStore::GetHost(const std::string& name) {
  std::optional<HostRecord> found;
  RETURN_IF_ERROR(WithConnection("reading a host", [&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    auto rows = tx.exec_params(fmt::format("SELECT {} FROM hosts WHERE name = $2", kHostColumns),
                               static_cast<int64_t>(options_.stale_after.count()), name);
    if (!rows.empty()) {
      ASSIGN_OR_RETURN(HostRecord host, ReadHost(rows[0]));
      found = std::move(host);
    }
    return absl::OkStatus();
  }));
  if (!found) {
    return absl::NotFoundError(
        fmt::format("no host named '{}'; `mailfleet hosts` lists the fleet", name));
  }
  return *std::move(found);
}

absl::StatusOr<int> PgStore::SchemaVersion() {
  int version = 0;
  RETURN_IF_ERROR(WithConnection("reading the schema version", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    version = tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
    return absl::OkStatus();
  }));
  return version;
}

}  // namespace mailfleet::collector
