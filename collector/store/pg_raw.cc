#include "collector/store/pg_raw.h"

#include <libpq-fe.h>

#include "fmt/format.h"

namespace mailfleet::collector {
namespace {

std::string Trimmed(const char* message) {
  std::string s = message == nullptr ? "" : message;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The parameters as libpq takes them.
std::vector<const char*> CStrings(const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  return values;
}

}  // namespace

RawResult::RawResult(pg_result* result) : result_(result) {}
RawResult::~RawResult() {
  if (result_ != nullptr) PQclear(result_);
}
RawResult::RawResult(RawResult&& other) noexcept : result_(other.result_) {
  other.result_ = nullptr;
}
int RawResult::rows() const { return PQntuples(result_); }
std::string_view RawResult::Get(int row, int column) const {
  return {PQgetvalue(result_, row, column), static_cast<size_t>(PQgetlength(result_, row, column))};
}
bool RawResult::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

RawConnection::RawConnection(const std::string& conninfo) {
  conn_ = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string message = Trimmed(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    throw RawError(message, true);
  }
  if (PQsetClientEncoding(conn_, "UTF8") != 0) Fail("setting client_encoding to UTF8");
  Exec("SET client_min_messages TO warning");
}

RawConnection::~RawConnection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

bool RawConnection::ok() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

void RawConnection::Fail(const std::string& what) {
  bool lost = PQstatus(conn_) != CONNECTION_OK;
  throw RawError(fmt::format("{}: {}", what, Trimmed(PQerrorMessage(conn_))), lost);
}

RawResult RawConnection::Exec(const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values = CStrings(params);
  return Check(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), nullptr, nullptr, 0),
               sql);
}

RawResult RawConnection::ExecPrepared(const std::string& sql,
                                      const std::vector<std::string>& params) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = fmt::format("mf{}", prepared_.size() + 1);
    Check(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr), sql);  // throws on failure
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  std::vector<const char*> values = CStrings(params);
  return Check(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(values.size()),
                              values.data(), nullptr, nullptr, 0),
               sql);
}

RawResult RawConnection::Check(PGresult* r, const std::string& sql) {
  ExecStatusType status = PQresultStatus(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    std::string error = Trimmed(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
    PQclear(r);
    throw RawError(fmt::format("{}: {}", sql.substr(0, sql.find('\n')), error),
                   PQstatus(conn_) != CONNECTION_OK);
  }
  return RawResult(r);
}

void RawConnection::CopyBegin(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  ExecStatusType status = PQresultStatus(r);
  std::string error = Trimmed(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
  PQclear(r);
  if (status != PGRES_COPY_IN) {
    bool lost = PQstatus(conn_) != CONNECTION_OK;
    throw RawError(fmt::format("{}: {}", sql, error), lost);
  }
}

void RawConnection::CopyPut(std::string_view data) {
  if (data.empty()) return;
  if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1) {
    Fail("sending COPY data");
  }
}

void RawConnection::CopyEnd() {
  if (PQputCopyEnd(conn_, nullptr) != 1) Fail("ending COPY");
  std::string error;
  bool failed = false;
  while (PGresult* r = PQgetResult(conn_)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      failed = true;
      error = Trimmed(PQresultErrorMessage(r));
    }
    PQclear(r);
  }
  if (failed) throw RawError(fmt::format("COPY: {}", error), PQstatus(conn_) != CONNECTION_OK);
}

}  // namespace mailfleet::collector
