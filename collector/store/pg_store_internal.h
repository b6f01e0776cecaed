// PgStore's internals shared by its source files (pg_store.cc, pg_commands.cc).
#pragma once

#include <chrono>
#include <memory>

#include "collector/store/pg_store.h"
#include "fmt/format.h"
#include "pqxx/pqxx"

namespace mailfleet::collector {

inline int64_t ToMicros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
inline TimePoint FromMicros(int64_t us) { return TimePoint(std::chrono::microseconds(us)); }

template <typename Fn>
absl::Status PgStore::WithConnection(const char* what, Fn&& fn) {
  std::unique_ptr<pqxx::connection> conn = pool_.Acquire();
  absl::Status result = absl::InternalError(what);
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (conn == nullptr || !conn->is_open()) {
        conn = std::make_unique<pqxx::connection>(conninfo_);
        // No NOTICEs on stderr ("relation already exists, skipping" and the like).
        pqxx::nontransaction setup(*conn);
        setup.exec("SET client_min_messages TO warning");
      }
      result = fn(*conn);
      break;
    } catch (const pqxx::broken_connection& e) {
      conn.reset();
      result = absl::UnavailableError(fmt::format(
          "{}: cannot connect to PostgreSQL at '{}': {}; check that the server runs and "
          "--database is right",
          what, RedactConninfo(conninfo_), e.what()));
    } catch (const pqxx::sql_error& e) {
      result =
          absl::InternalError(fmt::format("{}: SQL error {}: {}", what, e.sqlstate(), e.what()));
      break;
    } catch (const std::exception& e) {
      conn.reset();
      result = absl::InternalError(fmt::format("{}: {}", what, e.what()));
      break;
    }
  }
  bool usable = conn != nullptr && conn->is_open();
  pool_.Release(std::move(conn), usable);
  return result;
}

}  // namespace mailfleet::collector
