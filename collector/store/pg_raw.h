// A libpq connection for the log ingest path, which needs what libpqxx 6.4 does not offer:
// COPY data sent as raw bytes (the binary format) rather than as text lines. Statements
// throw RawError; a connection that saw one is not reused.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct pg_conn;
struct pg_result;

namespace mailfleet::collector {

class RawError : public std::runtime_error {
 public:
  RawError(const std::string& what, bool connection_lost)
      : std::runtime_error(what), connection_lost_(connection_lost) {}
  bool connection_lost() const { return connection_lost_; }

 private:
  bool connection_lost_;
};

// One statement's rows, as text.
class RawResult {
 public:
  explicit RawResult(pg_result* result);
  ~RawResult();
  RawResult(RawResult&& other) noexcept;
  RawResult(const RawResult&) = delete;
  RawResult& operator=(const RawResult&) = delete;

  int rows() const;
  std::string_view Get(int row, int column) const;
  bool IsNull(int row, int column) const;

 private:
  pg_result* result_;
};

class RawConnection {
 public:
  // Connects with client_encoding UTF8; throws RawError.
  explicit RawConnection(const std::string& conninfo);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const;
  // A statement with text parameters ($1, $2, ...).
  RawResult Exec(const std::string& sql, const std::vector<std::string>& params = {});
  // The same, for a statement this connection runs again and again: prepared on first use,
  // so later runs skip parsing and, once PostgreSQL settles on a generic plan, planning.
  RawResult ExecPrepared(const std::string& sql, const std::vector<std::string>& params = {});
  // COPY ... FROM STDIN: Begin, Put the data in pieces of any size, then End.
  void CopyBegin(const std::string& sql);
  void CopyPut(std::string_view data);
  void CopyEnd();

 private:
  [[noreturn]] void Fail(const std::string& what);

  RawResult Check(pg_result* r, const std::string& sql);

  pg_conn* conn_ = nullptr;
  std::unordered_map<std::string, std::string> prepared_;  // SQL -> its statement's name
};

}  // namespace mailfleet::collector
