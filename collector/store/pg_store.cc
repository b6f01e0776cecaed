#include "collector/store/pg_store.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <regex>

#include "collector/store/copy_format.h"
#include "collector/store/migrations.h"
#include "collector/store/pg_store_internal.h"
#include "common/parse/event_json.h"
#include "common/parse/log_event.h"
#include "common/parse/utf8.h"
#include "common/status_macros.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "pqxx/pqxx"
#include "spdlog/spdlog.h"

namespace mailfleet::collector {
namespace {

constexpr int64_t kMigrationLockKey = 0x6d61696c666c74;  // "mailflt"

// An ingest transaction's id floor (see FollowEvents), as a shared advisory lock on two int4
// keys. The floor is rounded down to a multiple of 65,536 (a lower floor only makes a look
// read a little more) and its remaining 48 bits are split: "MF" plus the high 16 in the
// first key, the low 32 in the second. Other advisory locks (one bigint key) never look
// like one.
constexpr const char* kPublishIdFloor = R"sql(
    SELECT pg_advisory_xact_lock_shared((1296433152 + (v >> 48))::int4, (v >> 16)::bit(32)::int4)
      FROM (SELECT coalesce(pg_sequence_last_value('events_id_seq'), 0) AS v) s)sql";
constexpr const char* kHeldIdFloors = R"sql(
    SELECT min((((classid::bigint - 1296433152) << 32) | objid::bigint) << 16) FROM pg_locks
     WHERE locktype = 'advisory' AND objsubid = 2
       AND classid::bigint BETWEEN 1296433152 AND 1296433152 + 65535
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))sql";

// Columns every host query selects, in the order ReadHost expects.
constexpr const char kHostColumns[] =
    "name, inventory::text, (connected AND last_seen > now() - make_interval(secs => $1)), "
    "(extract(epoch from first_seen) * 1000000)::bigint, "
    "(extract(epoch from last_seen) * 1000000)::bigint, "
    "(extract(epoch from connected_since) * 1000000)::bigint, collector_id, peer, "
    "pipeline::text";

// The events table's columns for the span fields, in kSpanFields order ("" = not stored).
std::string_view SpanColumn(std::string_view field) {
  if (field == "message") return "";
  if (field == "host") return "syslog_host";
  return field;
}

// The ids each nextval of events_id_seq reserves: its INCREMENT (0007_events_id_blocks.sql).
constexpr size_t kIdBlock = 65536;

constexpr int64_t kMicrosPerDay = 86'400'000'000;

int64_t DayOf(int64_t time_us) {
  return time_us >= 0 ? time_us / kMicrosPerDay : (time_us - kMicrosPerDay + 1) / kMicrosPerDay;
}

std::string DayName(int64_t day) {
  std::string date = parse::FormatTimeUs(day * kMicrosPerDay + 1).substr(0, 10);
  date.erase(std::remove(date.begin(), date.end(), '-'), date.end());
  return "events_" + date;
}

void AppendFloat(float value, std::string* out) {
  if (value < 0) {
    AppendCopyNull(out);
  } else {
    AppendCopyFloat(value, out);
  }
}

// A number, or NULL when the line had none.
void AppendNumber(int64_t value, bool present, std::string* out) {
  if (present) {
    AppendCopyInt(value, out);
  } else {
    AppendCopyNull(out);
  }
}

// delays=a/b/c/d as a real[] literal, or NULL.
void AppendDelays(const mailfleet::v1::LogEvent& e, std::string* out) {
  if (e.delays_size() != 4) {
    AppendCopyNull(out);
    return;
  }
  out->push_back('{');
  for (int i = 0; i < 4; ++i) {
    if (i > 0) out->push_back(',');
    AppendCopyFloat(e.delays(i), out);
  }
  out->push_back('}');
}

// The line's own time, or the time it was received when it had none, or one a timestamptz
// cannot hold (years 1 to 9999 here): a batch the server refuses would be sent forever.
int64_t EventTime(const mailfleet::v1::LogEvent& e, int64_t received_us) {
  constexpr int64_t kFirstUs = -62'135'596'800'000'000;  // 0001-01-01T00:00:00Z
  constexpr int64_t kLastUs = 253'402'300'799'999'999;   // 9999-12-31T23:59:59.999999Z
  int64_t t = e.time_us();
  return t != 0 && t >= kFirstUs && t <= kLastUs ? t : received_us;
}

// The span of field `i` (kSpanFields order) within raw, or nullopt when the line has none
// or the span does not fit the line.
std::optional<std::string_view> SpanOf(const mailfleet::v1::LogEvent& e, size_t i) {
  if (e.spans_size() < static_cast<int>(2 * (i + 1))) return std::nullopt;
  uint32_t pos = e.spans(static_cast<int>(2 * i));
  uint32_t len = e.spans(static_cast<int>(2 * i + 1));
  const std::string& raw = e.raw();
  if (len == 0 || pos > raw.size() || len > raw.size() - pos) return std::nullopt;
  return std::string_view(raw).substr(pos, len);
}

void AppendSpan(const mailfleet::v1::LogEvent& e, size_t i, std::string* out) {
  out->push_back('\t');
  if (auto v = SpanOf(e, i)) {
    AppendCopyText(*v, out);
  } else {
    AppendCopyNull(out);
  }
}

// The kSpanFields indexes of the events table's span columns, in EventColumns() order.
const std::vector<size_t>& StoredSpans() {
  static const std::vector<size_t> spans = [] {
    std::vector<size_t> v;
    for (size_t i = 0; i < parse::kSpanFieldCount; ++i) {
      if (!SpanColumn(parse::kSpanFields[i].name).empty()) v.push_back(i);
    }
    return v;
  }();
  return spans;
}

// A COPY's column list: `fixed`, then the columns of the first `spans` StoredSpans().
std::string CopyColumns(std::string_view fixed, size_t spans) {
  std::string columns(fixed);
  for (size_t n = 0; n < spans; ++n) {
    columns += fmt::format(", {}", SpanColumn(parse::kSpanFields[StoredSpans()[n]].name));
  }
  return columns;
}

const std::string& EventColumns() {
  static const std::string* columns = new std::string(CopyColumns(
      "id, time, received, host, source_id, end_offset, kind, severity, pid, client_port, "
      "relay_port, delay, delays, size, nrcpt, truncated, invalid_utf8, raw, raw_bytes",
      StoredSpans().size()));
  return *columns;
}

size_t SpanIndex(std::string_view name) {
  for (size_t i = 0; i < parse::kSpanFieldCount; ++i) {
    if (parse::kSpanFields[i].name == name) return i;
  }
  return parse::kSpanFieldCount;  // never: the names below are all kSpanFields names
}

// Whether [pos, pos + len) of a valid UTF-8 line starts and ends on character boundaries.
bool OnCharBoundaries(std::string_view raw, size_t pos, size_t len) {
  auto continuation = [&](size_t i) {
    return i < raw.size() && (static_cast<unsigned char>(raw[i]) & 0xC0) == 0x80;
  };
  return !continuation(pos) && !continuation(pos + len);
}

// Most lines (connects, TLS, postscreen, a queue id's removal) fill only the 19 columns of
// NarrowEventColumns(): they are copied with those alone. Every column more in a COPY costs
// the server for every row, its value NULL or not: the bench's million lines went in 7-10%
// faster with these 19 columns than with all of the table's (alone, side by side).
constexpr std::string_view kLastNarrowSpan = "client_ip";

// The leading StoredSpans() that narrow rows have.
size_t NarrowSpanCount() {
  static const size_t count = [] {
    size_t n = 0;
    while (n < StoredSpans().size() && StoredSpans()[n] <= SpanIndex(kLastNarrowSpan)) ++n;
    return n;
  }();
  return count;
}

const std::string& NarrowEventColumns() {
  static const std::string* columns = new std::string(CopyColumns(
      "id, time, received, host, source_id, end_offset, kind, severity, pid, client_port, "
      "truncated, invalid_utf8, raw",
      NarrowSpanCount()));
  return *columns;
}

// Whether the event has nothing beyond NarrowEventColumns(); raw_fits: FitsTextColumn(raw).
bool IsNarrow(const mailfleet::v1::LogEvent& e, bool raw_fits) {
  if (!raw_fits || e.relay_port() != 0 || e.delay() >= 0 || e.delays_size() != 0 || e.size() >= 0 ||
      e.nrcpt() >= 0) {
    return false;
  }
  for (size_t n = NarrowSpanCount(); n < StoredSpans().size(); ++n) {
    size_t i = StoredSpans()[n];
    if (e.spans_size() < static_cast<int>(2 * (i + 1))) break;  // none further
    if (SpanOf(e, i)) return false;
  }
  return true;
}

// One binary COPY row for the event, in EventColumns() order, or with `narrow` (IsNarrow) in
// NarrowEventColumns() order. raw_fits: FitsTextColumn(e.raw()).
void AppendRow(int64_t id, const std::string& host, const std::string& source_id,
               const mailfleet::v1::LogEvent& e, int64_t received_us, bool raw_fits, bool narrow,
               BinaryCopyWriter& w) {
  static const int16_t kFields = static_cast<int16_t>(19 + StoredSpans().size());
  static const int16_t kNarrowFields = static_cast<int16_t>(13 + NarrowSpanCount());
  const std::string& raw = e.raw();
  w.Row(narrow ? kNarrowFields : kFields);
  w.Int64(id);
  w.Timestamp(EventTime(e, received_us));
  w.Timestamp(received_us);
  w.SafeText(host);
  w.SafeText(source_id);
  w.Int64(static_cast<int64_t>(e.end_offset()));
  auto kind = static_cast<parse::Kind>(
      std::min<uint32_t>(e.kind(), static_cast<uint32_t>(parse::Kind::kCount)));
  auto severity = static_cast<parse::Severity>(std::min<uint32_t>(e.severity(), 4));
  w.Text(parse::KindName(kind));
  w.Text(parse::SeverityName(severity));
  auto int32_or_null = [&](int64_t v, bool present) {
    if (present) {
      w.Int32(static_cast<int32_t>(v));
    } else {
      w.Null();
    }
  };
  int32_or_null(e.pid(), e.pid() != 0);
  int32_or_null(e.client_port(), e.client_port() != 0);
  if (!narrow) {
    int32_or_null(e.relay_port(), e.relay_port() != 0);
    if (e.delay() >= 0) {
      w.Float4(e.delay());
    } else {
      w.Null();
    }
    if (e.delays_size() == 4) {
      w.Float4Array(e.delays().data(), 4);
    } else {
      w.Null();
    }
    if (e.size() >= 0) {
      w.Int64(e.size());
    } else {
      w.Null();
    }
    int32_or_null(e.nrcpt(), e.nrcpt() >= 0);
  }
  // The agent's invalid_utf8 flag is not trusted: the server refuses text that is not UTF-8.
  w.Bool(e.truncated());
  w.Bool(e.invalid_utf8() || !raw_fits);
  if (raw_fits) {
    w.Text(raw);
    if (!narrow) w.Null();
  } else {
    w.Text(parse::ToValidUtf8(raw));
    w.Bytes(raw);
  }
  const size_t spans = narrow ? NarrowSpanCount() : StoredSpans().size();
  for (size_t n = 0; n < spans; ++n) {
    auto v = SpanOf(e, StoredSpans()[n]);
    if (!v) {
      w.Null();
    } else if (raw_fits &&
               OnCharBoundaries(raw, static_cast<size_t>(v->data() - raw.data()), v->size())) {
      w.Text(*v);
    } else {
      w.SafeText(*v);
    }
  }
}

// The kinds that shape a message's lifecycle in the messages and recipients tables.
bool Derived(parse::Kind kind) {
  switch (kind) {
    case parse::Kind::kClient:
    case parse::Kind::kPickup:
    case parse::Kind::kMessageId:
    case parse::Kind::kQueued:
    case parse::Kind::kDelivery:
    case parse::Kind::kRemoved:
    case parse::Kind::kExpired:
      return true;
    default:
      return false;
  }
}

constexpr const char kDeriveColumns[] =
    "seq, time, kind, queue_id, client_host, client_ip, message_id, sender, size, nrcpt, "
    "recipient, orig_to, status, dsn, relay_host, relay_ip, relay_port, delay, delays, "
    "response, queued_as";

// One row of the derive_batch temp table, in kDeriveColumns order.
void AppendDeriveRow(int seq, const mailfleet::v1::LogEvent& e, int64_t received_us,
                     CopyTimeFormatter& times, std::string* row) {
  static const size_t kQueueId = SpanIndex("queue_id"), kClientHost = SpanIndex("client_host"),
                      kClientIp = SpanIndex("client_ip"), kMessageId = SpanIndex("message_id"),
                      kSender = SpanIndex("sender"), kRecipient = SpanIndex("recipient"),
                      kOrigTo = SpanIndex("orig_to"), kStatus = SpanIndex("status"),
                      kDsn = SpanIndex("dsn"), kRelayHost = SpanIndex("relay_host"),
                      kRelayIp = SpanIndex("relay_ip"), kResponse = SpanIndex("response"),
                      kQueuedAs = SpanIndex("queued_as");
  auto kind = static_cast<parse::Kind>(e.kind());
  AppendCopyInt(seq, row);
  row->push_back('\t');
  times.Append(EventTime(e, received_us), row);
  row->push_back('\t');
  row->append(parse::KindName(kind));
  for (size_t i : {kQueueId, kClientHost, kClientIp, kMessageId, kSender}) AppendSpan(e, i, row);
  row->push_back('\t');
  AppendNumber(e.size(), e.size() >= 0, row);
  row->push_back('\t');
  AppendNumber(e.nrcpt(), e.nrcpt() >= 0, row);
  for (size_t i : {kRecipient, kOrigTo, kStatus, kDsn, kRelayHost, kRelayIp}) {
    AppendSpan(e, i, row);
  }
  row->push_back('\t');
  AppendNumber(e.relay_port(), e.relay_port() != 0, row);
  row->push_back('\t');
  AppendFloat(e.delay(), row);
  row->push_back('\t');
  AppendDelays(e, row);
  AppendSpan(e, kResponse, row);
  AppendSpan(e, kQueuedAs, row);
  row->push_back('\n');
}

// Apply a batch's lifecycle lines (already in derive_batch) to messages and recipients,
// set-based, in this order, with the host as $1: open or extend lifecycles, record each
// recipient's latest attempt, then close the lifecycles that were removed. Within one batch a queue
// id counts as one lifecycle (Postfix hands a queue id out again only long after its message left,
// never seconds later).
constexpr const char* kApplyDerived[] = {
    R"sql(
    INSERT INTO messages AS m (host, queue_id, first_seen, last_seen, origin, client_host,
                               client_ip, message_id, sender, size, nrcpt)
    SELECT $1, queue_id, min(time), max(time),
           (array_agg(CASE kind WHEN 'client' THEN 'smtp' ELSE 'pickup' END ORDER BY seq)
              FILTER (WHERE kind IN ('client', 'pickup')))[1],
           (array_agg(client_host ORDER BY seq) FILTER (WHERE kind = 'client'))[1],
           (array_agg(client_ip ORDER BY seq) FILTER (WHERE kind = 'client'))[1],
           (array_agg(message_id ORDER BY seq) FILTER (WHERE kind = 'message_id'))[1],
           (array_agg(sender ORDER BY seq) FILTER (WHERE kind IN ('queued', 'pickup')
                                                     AND sender IS NOT NULL))[1],
           (array_agg(size ORDER BY seq) FILTER (WHERE kind = 'queued'))[1],
           (array_agg(nrcpt ORDER BY seq) FILTER (WHERE kind = 'queued'))[1]
      FROM derive_batch
     WHERE queue_id IS NOT NULL AND kind NOT IN ('removed', 'expired')
     GROUP BY queue_id
    ON CONFLICT (host, queue_id) WHERE NOT removed DO UPDATE SET
      last_seen = greatest(m.last_seen, EXCLUDED.last_seen),
      origin = coalesce(m.origin, EXCLUDED.origin),
      client_host = coalesce(m.client_host, EXCLUDED.client_host),
      client_ip = coalesce(m.client_ip, EXCLUDED.client_ip),
      message_id = coalesce(m.message_id, EXCLUDED.message_id),
      sender = coalesce(EXCLUDED.sender, m.sender),
      size = coalesce(EXCLUDED.size, m.size),
      nrcpt = coalesce(EXCLUDED.nrcpt, m.nrcpt))sql",
    R"sql(
    INSERT INTO recipients AS r (message, recipient, orig_to, status, dsn, relay_host, relay_ip,
                                 relay_port, delay, delays, response, queued_as, time, attempts)
    SELECT m.id, d.recipient, d.orig_to, d.status, d.dsn, d.relay_host, d.relay_ip, d.relay_port,
           d.delay, d.delays, d.response, d.queued_as, d.time, d.attempts
      FROM (SELECT DISTINCT ON (queue_id, recipient) *,
                   count(*) OVER (PARTITION BY queue_id, recipient) AS attempts
              FROM derive_batch
             WHERE kind = 'delivery' AND queue_id IS NOT NULL AND recipient IS NOT NULL
             ORDER BY queue_id, recipient, seq DESC) d
      JOIN LATERAL (SELECT id FROM messages
                     WHERE host = $1 AND queue_id = d.queue_id
                     ORDER BY removed, id DESC LIMIT 1) m ON true
    ON CONFLICT (message, recipient) DO UPDATE SET
      orig_to = coalesce(EXCLUDED.orig_to, r.orig_to), status = EXCLUDED.status,
      dsn = EXCLUDED.dsn, relay_host = EXCLUDED.relay_host, relay_ip = EXCLUDED.relay_ip,
      relay_port = EXCLUDED.relay_port, delay = EXCLUDED.delay, delays = EXCLUDED.delays,
      response = EXCLUDED.response, queued_as = coalesce(EXCLUDED.queued_as, r.queued_as),
      time = EXCLUDED.time, attempts = r.attempts + EXCLUDED.attempts)sql",
    R"sql(
    UPDATE messages m SET removed = x.removed OR m.removed, expired = x.expired OR m.expired,
                          last_seen = greatest(m.last_seen, x.time)
      FROM (SELECT queue_id, bool_or(kind = 'removed') AS removed,
                   bool_or(kind = 'expired') AS expired, max(time) AS time
              FROM derive_batch WHERE kind IN ('removed', 'expired') AND queue_id IS NOT NULL
             GROUP BY queue_id) x
     WHERE m.host = $1 AND m.queue_id = x.queue_id AND NOT m.removed)sql"};

// Numbered query parameters ($1, $2, ...) and WHERE terms built from the CLI's filters.
class SqlFilter {
 public:
  std::string Param(std::string value) {
    params_.push_back(std::move(value));
    return fmt::format("${}", params_.size());
  }
  // "host_col IN (...)" and "time_col >= / <" terms for a host list and a time window, over
  // the same parameters for every (host_col, time_col) pair given.
  void HostsAndWindow(const google::protobuf::RepeatedPtrField<std::string>& hosts,
                      const google::protobuf::Timestamp* since,
                      const google::protobuf::Timestamp* until,
                      std::initializer_list<std::pair<const char*, const char*>> columns,
                      std::initializer_list<std::vector<std::string>*> wheres) {
    using google::protobuf::util::TimeUtil;
    std::vector<std::string> host_params;
    for (const auto& h : hosts) host_params.push_back(Param(h));
    std::string since_param =
        since ? Param(std::to_string(TimeUtil::TimestampToMicroseconds(*since))) : "";
    std::string until_param =
        until ? Param(std::to_string(TimeUtil::TimestampToMicroseconds(*until))) : "";
    auto where = wheres.begin();
    for (const auto& [host_col, time_col] : columns) {
      std::vector<std::string>& w = **where++;
      if (!host_params.empty()) {
        w.push_back(fmt::format("{} IN ({})", host_col, fmt::join(host_params, ", ")));
      }
      if (since)
        w.push_back(fmt::format("{} >= to_timestamp({}::bigint / 1e6)", time_col, since_param));
      if (until)
        w.push_back(fmt::format("{} < to_timestamp({}::bigint / 1e6)", time_col, until_param));
    }
  }
  const std::vector<std::string>& params() const { return params_; }

 private:
  std::vector<std::string> params_;
};

// A SQL LIKE pattern matching `text` literally.
std::string LikeEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

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
  if (!row[8].is_null()) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    // Health is informational: a row written by another version is shown without it.
    (void)google::protobuf::util::JsonStringToMessage(row[8].c_str(), &host.pipeline, options);
  }
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
    : conninfo_(std::move(conninfo)),
      options_(options),
      pool_(options.pool_size),
      raw_pool_(options.pool_size) {}

PgStore::~PgStore() = default;

absl::StatusOr<std::unique_ptr<PgStore>> PgStore::Create(const std::string& conninfo,
                                                         PgStoreOptions options) {
  auto store = std::unique_ptr<PgStore>(new PgStore(conninfo, options));
  RETURN_IF_ERROR(store->Migrate());
  return store;
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

absl::Status PgStore::TouchHost(const Session& session, TimePoint now,
                                const mailfleet::v1::Heartbeat& heartbeat) {
  std::string json;
  auto printed = google::protobuf::util::MessageToJsonString(heartbeat, &json);
  if (!printed.ok()) return absl::InternalError(printed.ToString());
  return WithConnection("recording a heartbeat", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE hosts SET last_seen = to_timestamp($3::bigint / 1e6), connected = true, "
        "pipeline = $4::jsonb WHERE name = $1 AND session_id = $2",
        session.host, session.session_id, ToMicros(now), json);
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

template <typename T>
absl::StatusOr<T> PgStore::Scalar(const char* what, const char* sql) {
  T value{};
  RETURN_IF_ERROR(WithConnection(what, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    value = tx.exec1(sql)[0].as<T>();
    return absl::OkStatus();
  }));
  return value;
}

absl::StatusOr<int> PgStore::SchemaVersion() {
  return Scalar<int>("reading the schema version",
                     "SELECT coalesce(max(version), 0) FROM schema_migrations");
}

void PgStore::EnsurePartitions(pqxx::connection& c, const std::vector<int64_t>& days,
                               TimePoint now) {
  int64_t today =
      DayOf(std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count());
  for (int64_t day : days) {
    if (day < today - options_.retention_days || day > today + 1) continue;  // → default
    {
      absl::MutexLock lock(&partitions_mu_);
      if (partition_days_.contains(day)) continue;
    }
    std::string name = DayName(day);
    try {
      pqxx::work tx(c);
      tx.exec("SELECT pg_advisory_xact_lock(hashtext('mailfleet_events_partitions'))");
      if (tx.exec_params("SELECT 1 FROM pg_class WHERE relname = $1", name).empty()) {
        tx.exec(fmt::format("CREATE TABLE {} PARTITION OF events FOR VALUES FROM ('{}') TO ('{}')",
                            name, parse::FormatTimeUs(day * kMicrosPerDay + 1).substr(0, 10),
                            parse::FormatTimeUs((day + 1) * kMicrosPerDay + 1).substr(0, 10)));
      }
      tx.commit();
    } catch (const pqxx::sql_error& e) {
      // Rows of that day already sit in events_default: they stay there.
      spdlog::warn("events partition {} not created ({}); its rows go to events_default", name,
                   e.what());
    }
    absl::MutexLock lock(&partitions_mu_);
    partition_days_.insert(day);
  }
}

// One ingest transaction on an ingest connection: the sources' watermarks, the lines beyond
// them in binary COPY, the derived message rows, the commit. Statements throw RawError.
// Destroyed before Commit(), it rolls back.
class PgStore::Ingest final : public Store::PendingIngest {
 public:
  Ingest(PgStore& store, std::unique_ptr<RawConnection> conn, std::string host,
         std::vector<const mailfleet::v1::LogBatch*> batches, TimePoint received)
      : store_(store),
        conn_(std::move(conn)),
        host_(std::move(host)),
        batches_(std::move(batches)),
        received_us_(
            std::chrono::duration_cast<std::chrono::microseconds>(received.time_since_epoch())
                .count()) {
    for (const auto* batch : batches_) sources_[batch->source_id()].path = batch->path();
  }

  ~Ingest() override {
    if (conn_ != nullptr && open_) {
      try {
        conn_->Exec("ROLLBACK");
      } catch (const RawError&) {
        conn_.reset();
      }
    }
    bool usable = conn_ != nullptr && conn_->ok();
    store_.raw_pool_.Release(std::move(conn_), usable);
  }

  // Connects when the pool lent a slot rather than a connection, and begins.
  void Begin() {
    if (conn_ == nullptr) conn_ = std::make_unique<RawConnection>(store_.conninfo_);
    conn_->Exec("BEGIN");
    open_ = true;
    // Followers learn from this lock that lines with ids above the sequence's value now may
    // still commit (see FollowEvents).
    conn_->ExecPrepared(kPublishIdFloor);
  }

  // Locks every source row, in source order. With check, false when a watermark is not the
  // one the lines were chosen by; else the lines are chosen by these.
  bool LockSources(bool check) {
    for (auto& [id, st] : sources_) {
      conn_->ExecPrepared(
          "INSERT INTO log_sources (host, source_id, path) VALUES ($1, $2, $3) "
          "ON CONFLICT DO NOTHING",
          {host_, id, st.path});
      RawResult w = conn_->ExecPrepared(
          "SELECT watermark FROM log_sources WHERE host = $1 AND source_id = $2 FOR UPDATE",
          {host_, id});
      uint64_t watermark = std::stoull(std::string(w.Get(0, 0)));
      if (check && watermark != st.start) return false;
      st.start = watermark;
    }
    return true;
  }

  // The lines are chosen by `expected`, or by the watermarks as they are now, unlocked.
  void AssumeWatermarks(const std::map<std::string, uint64_t>& expected) {
    for (auto& [id, st] : sources_) {
      if (auto it = expected.find(id); it != expected.end()) {
        st.start = it->second;
        continue;
      }
      RawResult w = conn_->Exec(
          "SELECT watermark FROM log_sources WHERE host = $1 AND source_id = $2", {host_, id});
      st.start = w.rows() == 0 ? 0 : std::stoull(std::string(w.Get(0, 0)));
    }
  }

  // Reserves ids for up to `rows` lines, in blocks (see 0007_events_id_blocks.sql). Called
  // after Begin published the floor: every block is above it.
  void ReserveIds(size_t rows) {
    id_blocks_.clear();
    if (rows == 0) return;
    RawResult r = conn_->ExecPrepared("SELECT nextval('events_id_seq') FROM generate_series(1, $1)",
                                      {std::to_string((rows + kIdBlock - 1) / kIdBlock)});
    for (int i = 0; i < r.rows(); ++i) id_blocks_.push_back(std::stoll(std::string(r.Get(i, 0))));
  }

  // The id of the n-th line (from 0) copied in this transaction.
  int64_t IdOf(size_t n) const {
    return id_blocks_[n / kIdBlock] + static_cast<int64_t>(n % kIdBlock);
  }

  // COPYs the lines beyond each source's start watermark: the narrow ones (IsNarrow) as they
  // come, the others after them, in a COPY of every column.
  void CopyLines() {
    size_t offered = 0;
    for (const auto* batch : batches_) offered += static_cast<size_t>(batch->events_size());
    ReserveIds(offered);
    size_t copied = 0;
    derive_rows_.clear();
    derive_count_ = 0;
    for (auto& [id, st] : sources_) st.inserted = st.duplicates = st.last_time = 0;
    static const std::string kCopyNarrow =
        fmt::format("COPY events ({}) FROM STDIN (FORMAT binary)", NarrowEventColumns());
    static const std::string kCopyEvents =
        fmt::format("COPY events ({}) FROM STDIN (FORMAT binary)", EventColumns());
    constexpr size_t kChunk = 256 * 1024;  // COPY data is sent in pieces of about this size
    BinaryCopyWriter narrow(kChunk + 64 * 1024), wide(0);
    narrow.Header();
    wide.Header();
    size_t narrow_rows = 0, wide_rows = 0;
    bool copying = false;  // the narrow COPY has begun
    auto send_narrow = [&] {
      if (!copying) conn_->CopyBegin(kCopyNarrow);
      copying = true;
      conn_->CopyPut(narrow.written());
      narrow.Clear();
    };
    CopyTimeFormatter times;
    for (auto& [id, st] : sources_) st.high = st.start;
    for (const auto* batch : batches_) {
      SourceState& st = sources_[batch->source_id()];
      for (const auto& e : batch->events()) {
        if (e.end_offset() <= st.high) {
          ++st.duplicates;
          continue;
        }
        const bool fits = FitsTextColumn(e.raw());
        const bool is_narrow = IsNarrow(e, fits);
        AppendRow(IdOf(copied++), host_, batch->source_id(), e, received_us_, fits, is_narrow,
                  is_narrow ? narrow : wide);
        ++(is_narrow ? narrow_rows : wide_rows);
        if (narrow.size() >= kChunk) send_narrow();
        if (Derived(static_cast<parse::Kind>(e.kind()))) {
          AppendDeriveRow(++derive_count_, e, received_us_, times, &derive_rows_);
        }
        st.high = e.end_offset();
        st.last_time = std::max(st.last_time, EventTime(e, 0));  // 0: none
        ++st.inserted;
      }
    }
    if (narrow_rows > 0) {
      send_narrow();
      conn_->CopyEnd();
    }
    if (wide_rows > 0) {
      conn_->CopyBegin(kCopyEvents);
      for (std::string_view rest = wide.written(); !rest.empty();) {
        std::string_view chunk = rest.substr(0, kChunk);
        conn_->CopyPut(chunk);
        rest.remove_prefix(chunk.size());
      }
      conn_->CopyEnd();
    }
  }

  // Derives the message rows, moves the watermarks and commits.
  IngestResult Commit() {
    static const std::string kCopyDerive =
        fmt::format("COPY derive_batch ({}) FROM STDIN", kDeriveColumns);
    if (derive_count_ > 0) {
      conn_->Exec(
          "CREATE TEMP TABLE IF NOT EXISTS derive_batch (seq integer, time timestamptz, "
          "kind text, queue_id text, client_host text, client_ip text, message_id text, "
          "sender text, size bigint, nrcpt integer, recipient text, orig_to text, "
          "status text, dsn text, relay_host text, relay_ip text, relay_port integer, "
          "delay real, delays real[], response text, queued_as text) ON COMMIT DELETE ROWS");
      conn_->CopyBegin(kCopyDerive);
      conn_->CopyPut(derive_rows_);
      conn_->CopyEnd();
      for (const char* sql : kApplyDerived) conn_->ExecPrepared(sql, {host_});
    }
    IngestResult result;
    for (const auto& [id, st] : sources_) {
      if (st.inserted == 0 && st.duplicates == 0) continue;
      conn_->ExecPrepared(
          "UPDATE log_sources SET watermark = $3, path = $4, lines = lines + $5, "
          "duplicates = duplicates + $6, "
          "last_time = CASE WHEN $7::bigint > 0 THEN to_timestamp($7::bigint / 1e6) "
          "ELSE last_time END, updated = now() WHERE host = $1 AND source_id = $2",
          {host_, id, std::to_string(st.high), st.path, std::to_string(st.inserted),
           std::to_string(st.duplicates), std::to_string(st.last_time)});
      result.inserted += static_cast<uint32_t>(st.inserted);
      result.duplicates += static_cast<uint32_t>(st.duplicates);
    }
    conn_->Exec("COMMIT");
    open_ = false;
    return result;
  }

  void Rollback() {
    conn_->Exec("ROLLBACK");
    open_ = false;
  }

  // After a RawError: the connection is not reused.
  void Drop() {
    conn_.reset();
    open_ = false;
  }

 private:
  struct SourceState {
    uint64_t start = 0;  // the watermark the lines are chosen by
    uint64_t high = 0;   // the end offset of the last line stored
    std::string path;
    int64_t inserted = 0, duplicates = 0, last_time = 0;
  };

  PgStore& store_;
  std::unique_ptr<RawConnection> conn_;
  bool open_ = false;  // a transaction is open
  const std::string host_;
  const std::vector<const mailfleet::v1::LogBatch*> batches_;
  const int64_t received_us_;
  std::map<std::string, SourceState> sources_;  // by source id: the order rows are locked in
  std::string derive_rows_;                     // COPY text for derive_batch
  int derive_count_ = 0;
  std::vector<int64_t> id_blocks_;  // the first id of each block reserved, in order
};

namespace {

// The days (since the epoch) the batches' lines fall on, each once.
std::vector<int64_t> DaysOf(const std::vector<const mailfleet::v1::LogBatch*>& batches,
                            TimePoint received) {
  int64_t received_us =
      std::chrono::duration_cast<std::chrono::microseconds>(received.time_since_epoch()).count();
  std::vector<int64_t> days;
  for (const auto* batch : batches) {
    for (const auto& e : batch->events()) {
      int64_t day = DayOf(EventTime(e, received_us));
      if (days.empty() || days.back() != day) days.push_back(day);
    }
  }
  std::sort(days.begin(), days.end());
  days.erase(std::unique(days.begin(), days.end()), days.end());
  return days;
}

absl::Status IngestError(const RawError& e, const std::string& conninfo) {
  if (e.connection_lost()) {
    return absl::UnavailableError(fmt::format(
        "storing log lines: lost the connection to PostgreSQL at '{}': {}; check that the "
        "server runs",
        RedactConninfo(conninfo), e.what()));
  }
  return absl::InternalError(fmt::format("storing log lines: {}", e.what()));
}

}  // namespace

absl::StatusOr<IngestResult> PgStore::IngestBatches(
    const std::string& host, const std::vector<const mailfleet::v1::LogBatch*>& batches,
    TimePoint received, const std::function<void()>& on_begun) {
  if (batches.empty()) return IngestResult{};
  RETURN_IF_ERROR(WithConnection("preparing partitions", [&](pqxx::connection& c) {
    EnsurePartitions(c, DaysOf(batches, received), received);
    return absl::OkStatus();
  }));
  absl::Status status;
  bool begun = false;
  // One retry when the connection was lost: nothing of a transaction that did not commit is
  // kept. Not once on_begun was called: a transaction ahead may then hold the last free
  // connection, waiting for this one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    Ingest ingest(*this, raw_pool_.Acquire(), host, batches, received);
    try {
      ingest.Begin();
      if (on_begun && !begun) on_begun();
      begun = true;
      // Every source row is locked before any line is stored: a replay on another stream
      // of the host waits here, then finds the watermark moved.
      ingest.LockSources(/*check=*/false);
      ingest.CopyLines();
      return ingest.Commit();
    } catch (const RawError& e) {
      ingest.Drop();
      status = IngestError(e, conninfo_);
      if (!e.connection_lost() || (begun && on_begun)) break;
    }
  }
  return status;
}

absl::StatusOr<std::unique_ptr<Store::PendingIngest>> PgStore::IngestAhead(
    const std::string& host, const std::vector<const mailfleet::v1::LogBatch*>& batches,
    TimePoint received, const std::map<std::string, uint64_t>& expected) {
  std::unique_ptr<RawConnection> conn;
  if (!raw_pool_.TryAcquire(&conn)) return nullptr;
  auto ingest = std::make_unique<Ingest>(*this, std::move(conn), host, batches, received);
  RETURN_IF_ERROR(WithConnection("preparing partitions", [&](pqxx::connection& c) {
    EnsurePartitions(c, DaysOf(batches, received), received);
    return absl::OkStatus();
  }));
  try {
    ingest->Begin();
    ingest->AssumeWatermarks(expected);
    ingest->CopyLines();
  } catch (const RawError& e) {
    ingest->Drop();
    return IngestError(e, conninfo_);
  }
  return ingest;
}

absl::StatusOr<IngestResult> PgStore::FinishIngest(std::unique_ptr<PendingIngest> pending) {
  auto* ingest = dynamic_cast<Ingest*>(pending.get());
  if (ingest == nullptr) return absl::InvalidArgumentError("not a PgStore ingest");
  try {
    if (!ingest->LockSources(/*check=*/true)) {
      // The watermarks moved otherwise (a replay on another stream): the lines chosen are
      // not the right ones. Stored again from the start, on the same connection, so this
      // never waits for another.
      ingest->Rollback();
      ingest->Begin();
      ingest->LockSources(/*check=*/false);
      ingest->CopyLines();
    }
    return ingest->Commit();
  } catch (const RawError& e) {
    ingest->Drop();
    return IngestError(e, conninfo_);
  }
}

namespace {

// The WHERE terms of a LogQuery's filters, their parameters in `filter`.
std::vector<std::string> LogFilterTerms(const mailfleet::v1::LogQuery& q, SqlFilter& filter) {
  std::vector<std::string> where;
  auto param = [&](std::string value) { return filter.Param(std::move(value)); };
  filter.HostsAndWindow(q.hosts(), q.has_since() ? &q.since() : nullptr,
                        q.has_until() ? &q.until() : nullptr, {{"host", "time"}}, {&where});
  if (!q.queue_id().empty()) where.push_back(fmt::format("queue_id = {}", param(q.queue_id())));
  if (!q.message_id().empty()) {
    std::string id = param(q.message_id());
    where.push_back(
        fmt::format("(message_id = {0} OR (host, queue_id) IN (SELECT host, queue_id FROM events "
                    "WHERE message_id = {0} AND queue_id IS NOT NULL))",
                    id));
  }
  auto address = [&](const std::string& value, std::initializer_list<const char*> columns) {
    std::string p =
        value.find('@') != std::string::npos ? param(value) : param("%@" + LikeEscape(value));
    bool exact = value.find('@') != std::string::npos;
    std::vector<std::string> ors;
    for (const char* col : columns) {
      ors.push_back(exact ? fmt::format("lower({}) = lower({})", col, p)
                          : fmt::format("{} ILIKE {}", col, p));
    }
    where.push_back(fmt::format("({})", fmt::join(ors, " OR ")));
  };
  if (!q.from().empty()) address(q.from(), {"sender"});
  if (!q.to().empty()) address(q.to(), {"recipient", "orig_to"});
  if (!q.status().empty()) where.push_back(fmt::format("status = {}", param(q.status())));
  if (!q.service().empty()) where.push_back(fmt::format("service = {}", param(q.service())));
  if (!q.grep().empty()) {
    where.push_back(fmt::format("raw ILIKE {}", param("%" + LikeEscape(q.grep()) + "%")));
  }
  return where;
}

std::string WhereClause(const std::vector<std::string>& where) {
  return where.empty() ? "" : fmt::format("WHERE {}", fmt::join(where, " AND "));
}

// The columns a StoredEvent is read from: id, host, time, kind, severity, raw, then the
// fields (as text) named by EventFieldNames().
const std::vector<std::string>& EventFieldNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v = {"source_id",  "end_offset", "pid",         "client_port",
                                  "relay_port", "delay",      "delays",      "size",
                                  "nrcpt",      "truncated",  "invalid_utf8"};
    for (const auto& f : parse::kSpanFields) {
      if (!SpanColumn(f.name).empty()) v.emplace_back(SpanColumn(f.name));
    }
    return v;
  }();
  return names;
}

const std::string& EventSelectColumns() {
  static const std::string columns = [] {
    std::string c = "id, host, (extract(epoch from time) * 1000000)::bigint, kind, severity, raw";
    for (const auto& f : EventFieldNames()) c += fmt::format(", {}::text", f);
    return c;
  }();
  return columns;
}

// Follow: lines read per query, and per look (a follower that falls behind catches up in
// looks of this size rather than in one that holds everything).
constexpr size_t kFollowPage = 1000;
constexpr size_t kFollowMaxLook = 10'000;

mailfleet::v1::StoredEvent ReadEvent(const pqxx::row& row) {
  using google::protobuf::util::TimeUtil;
  const auto& field_names = EventFieldNames();
  mailfleet::v1::StoredEvent e;
  e.set_id(row[0].as<int64_t>());
  e.set_host(row[1].c_str());
  *e.mutable_time() = TimeUtil::MicrosecondsToTimestamp(row[2].as<int64_t>());
  e.set_kind(row[3].c_str());
  e.set_severity(row[4].c_str());
  e.set_raw(row[5].c_str());
  for (size_t i = 0; i < field_names.size(); ++i) {
    const auto& field = row[static_cast<int>(6 + i)];
    if (!field.is_null()) (*e.mutable_fields())[field_names[i]] = field.c_str();
  }
  (*e.mutable_fields()).erase("truncated");
  (*e.mutable_fields()).erase("invalid_utf8");
  if (std::string_view(row[static_cast<int>(6 + 9)].c_str()) == "true") {
    (*e.mutable_fields())["truncated"] = "true";
  }
  if (std::string_view(row[static_cast<int>(6 + 10)].c_str()) == "true") {
    (*e.mutable_fields())["invalid_utf8"] = "true";
  }
  return e;
}

}  // namespace

absl::StatusOr<std::vector<mailfleet::v1::StoredEvent>> PgStore::QueryEvents(
    const mailfleet::v1::LogQuery& q) {
  using google::protobuf::util::TimeUtil;
  SqlFilter filter;
  std::vector<std::string> where = LogFilterTerms(q, filter);
  uint32_t limit = q.limit() == 0 ? 100 : std::min<uint32_t>(q.limit(), 1000000);
  auto sql = [&](const std::vector<std::string>& terms) {
    return fmt::format(
        "SELECT * FROM (SELECT {} FROM events {} ORDER BY time DESC, id DESC LIMIT {}) newest "
        "ORDER BY 3, 1",
        EventSelectColumns(), WhereClause(terms), limit);
  };
  // The newest lines. events.time has a BRIN index, not a btree (0008_events_brin.sql), so
  // nothing reads the table in time order: the lines are looked for in windows reaching ever
  // further back from now (or --until), each a scan of the block ranges whose times fall in
  // it, until one holds `limit` lines; then those are the newest of all, as every line left
  // out is older than each of them. Then the whole range. A queue or message id finds its
  // few lines through their own indexes at once.
  std::vector<int64_t> lowers;
  if (q.queue_id().empty() && q.message_id().empty()) {
    int64_t ref = ToMicros(std::chrono::system_clock::now());
    if (q.has_until()) ref = std::min(ref, TimeUtil::TimestampToMicroseconds(q.until()));
    const int64_t since = q.has_since() ? TimeUtil::TimestampToMicroseconds(q.since()) : INT64_MIN;
    for (int64_t seconds : {10, 60, 600, 3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600}) {
      int64_t lower = ref - seconds * 1'000'000;
      if (lower <= since) break;
      lowers.push_back(lower);
    }
  }

  std::vector<mailfleet::v1::StoredEvent> events;
  RETURN_IF_ERROR(WithConnection("querying log lines", [&](pqxx::connection& c) -> absl::Status {
    events.clear();  // a retry on a new connection starts again
    pqxx::read_transaction tx(c);
    auto params = pqxx::prepare::make_dynamic_params(filter.params());
    for (int64_t lower : lowers) {
      std::vector<std::string> terms = where;
      terms.push_back(fmt::format("time >= to_timestamp({}::bigint / 1e6)", lower));
      pqxx::result rows = tx.exec_params(sql(terms), params);
      if (rows.size() < limit) continue;
      for (const auto& row : rows) events.push_back(ReadEvent(row));
      return absl::OkStatus();
    }
    pqxx::result rows = tx.exec_params(sql(where), params);
    for (const auto& row : rows) events.push_back(ReadEvent(row));
    return absl::OkStatus();
  }));
  return events;
}

// How following works. A line's id is handed out when it is copied, but streams copy
// concurrently and commit in any order: a line with a smaller id than one already shown can
// still commit later. So each look runs in a repeatable-read snapshot and shows the lines
// that the previous look's snapshot did not see, among the ids above a floor under which no
// line still to commit can be:
//  - every ingest transaction, before it reserves its ids, holds a shared advisory lock whose
//    key is the sequence's value at that moment, rounded down (kPublishIdFloor): all its ids
//    are above that key;
//  - before taking its snapshot, a look reads the sequence's value, then the keys held; the
//    next floor is the least of them. A transaction the look did not find locked took its
//    lock, and so its ids, after the look read the sequence.
// A row's 32-bit xmin is widened to the xid8 pg_visible_in_snapshot takes with the epoch of
// the current snapshot's xmax (every visible row's xid precedes it).
namespace {

absl::StatusOr<int64_t> ReadIdFloor(pqxx::connection& c) {
  pqxx::nontransaction tx(c);
  int64_t seq =
      tx.exec1("SELECT coalesce(pg_sequence_last_value('events_id_seq'), 0)")[0].as<int64_t>();
  auto held = tx.exec1(kHeldIdFloors)[0];
  return held.is_null() ? seq : std::min(seq, held.as<int64_t>());
}

}  // namespace

absl::StatusOr<PgStore::FollowCursor> PgStore::StartFollow() {
  FollowCursor cursor;
  RETURN_IF_ERROR(WithConnection("starting to follow", [&](pqxx::connection& c) -> absl::Status {
    ASSIGN_OR_RETURN(cursor.low, ReadIdFloor(c));
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    cursor.snapshot = tx.exec1("SELECT pg_current_snapshot()::text")[0].c_str();
    tx.commit();
    return absl::OkStatus();
  }));
  return cursor;
}

absl::StatusOr<std::vector<mailfleet::v1::StoredEvent>> PgStore::FollowEvents(
    const mailfleet::v1::LogQuery& q, FollowCursor* cursor) {
  std::vector<mailfleet::v1::StoredEvent> events;
  RETURN_IF_ERROR(WithConnection("following log lines", [&](pqxx::connection& c) -> absl::Status {
    events.clear();  // a retry on a new connection starts the look again
    ASSIGN_OR_RETURN(int64_t next_low, ReadIdFloor(c));
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    auto snap = tx.exec1(
        "SELECT pg_current_snapshot()::text, pg_snapshot_xmax(pg_current_snapshot())::text");
    const int64_t xmax = std::stoll(snap[1].c_str());
    // The query for the lines not yet shown above an id (the last parameter); with
    // below_upto, only those up to partial_upto that the partial look's snapshot did not see.
    struct Query {
      std::string sql;
      std::vector<std::string> params;
    };
    auto build = [&](bool below_upto) {
      SqlFilter filter;
      std::vector<std::string> where = LogFilterTerms(q, filter);
      std::string epoch = filter.Param(std::to_string(xmax >> 32 << 32));
      std::string low32 = filter.Param(std::to_string(xmax & 0xFFFFFFFF));
      auto visible_in = [&](const std::string& snapshot) {
        return fmt::format(
            "pg_visible_in_snapshot(greatest(({0}::bigint | xmin::text::bigint) - CASE WHEN "
            "xmin::text::bigint > {1}::bigint THEN 4294967296 ELSE 0 END, 0)::text::xid8, "
            "{2}::pg_snapshot)",
            epoch, low32, filter.Param(snapshot));
      };
      where.push_back("NOT " + visible_in(cursor->snapshot));
      if (below_upto) {
        where.push_back("NOT " + visible_in(cursor->partial_snapshot));
        where.push_back(
            fmt::format("id <= {}::bigint", filter.Param(std::to_string(cursor->partial_upto))));
      }
      where.push_back(fmt::format("id > {}::bigint", filter.Param("")));
      return Query{fmt::format("SELECT {} FROM events {} ORDER BY id LIMIT {}",
                               EventSelectColumns(), WhereClause(where), kFollowPage),
                   filter.params()};
    };
    // Reads the query's lines above id `from` in pages, all in this one snapshot; stops after
    // `limit` lines (and a whole page). Returns whether it got them all.
    auto read = [&](Query query, int64_t from, size_t limit) {
      for (size_t got = 0;;) {
        query.params.back() = std::to_string(from);
        pqxx::result rows =
            tx.exec_params(query.sql, pqxx::prepare::make_dynamic_params(query.params));
        for (const auto& row : rows) events.push_back(ReadEvent(row));
        got += rows.size();
        if (rows.size() < kFollowPage) return true;
        from = events.back().id();
        if (got >= limit) return false;
      }
    };
    // A look that stopped at its limit showed its snapshot's lines up to partial_upto: this
    // one shows what has committed since below that id (few: the transactions that were
    // running then), then goes on above it.
    const bool partial = !cursor->partial_snapshot.empty();
    int64_t from = cursor->low;
    if (partial) {
      read(build(true), cursor->low, std::numeric_limits<size_t>::max());
      from = std::max(cursor->low, cursor->partial_upto);
    }
    const size_t before = events.size();
    const bool all = read(build(false), from, kFollowMaxLook);
    tx.commit();
    if (all) {
      cursor->snapshot = snap[0].c_str();
      cursor->low = next_low;
      cursor->partial_snapshot.clear();
    } else {
      // Shown now: this snapshot's lines up to the last id read.
      cursor->partial_snapshot = snap[0].c_str();
      cursor->partial_upto = events.size() > before ? events.back().id() : from;
    }
    cursor->caught_up = all;
    return absl::OkStatus();
  }));
  return events;
}

absl::StatusOr<int> PgStore::DropExpiredPartitions(TimePoint now) {
  int64_t today =
      DayOf(std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count());
  std::string oldest = DayName(today - options_.retention_days);
  int dropped = 0;
  RETURN_IF_ERROR(WithConnection("dropping old log partitions", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto rows = tx.exec(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events' "
        "AND c.relname ~ '^events_[0-9]{8}$'");
    for (const auto& row : rows) {
      std::string name = row[0].c_str();
      if (name < oldest) {
        tx.exec(fmt::format("DROP TABLE {}", name));
        ++dropped;
      }
    }
    tx.commit();
    return absl::OkStatus();
  }));
  if (dropped > 0) {
    absl::MutexLock lock(&partitions_mu_);
    partition_days_.clear();
  }
  return dropped;
}

absl::StatusOr<int64_t> PgStore::SummarizeEvents() {
  int64_t ranges = 0;
  RETURN_IF_ERROR(WithConnection("summarising the events index", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    // It shares its lock with (auto)vacuum, which summarises too: not worth a wait.
    tx.exec("SET LOCAL lock_timeout = '2s'");
    ranges = tx.exec1(
                   "SELECT coalesce(sum(brin_summarize_new_values(i.inhrelid)), 0) "
                   "FROM pg_inherits i WHERE i.inhparent = 'events_time_id'::regclass")[0]
                 .as<int64_t>();
    tx.commit();
    return absl::OkStatus();
  }));
  return ranges;
}

absl::StatusOr<int> PgStore::AnalyzeNewPartitions() {
  int analysed = 0;
  RETURN_IF_ERROR(WithConnection("analysing new log partitions", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    // reltuples is -1 until the first ANALYZE or VACUUM; pg_relation_size is exact at once.
    auto rows = tx.exec(
        "SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'events'::regclass AND c.reltuples < 0 "
        "AND pg_relation_size(c.oid) > 0");
    tx.exec("SET LOCAL lock_timeout = '2s'");  // shared with (auto)vacuum, as in SummarizeEvents
    for (const auto& row : rows) {
      tx.exec(fmt::format("ANALYZE {}", row[0].c_str()));  // a regclass name, quoted as needed
      ++analysed;
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return analysed;
}

// A reject's reason, for counting rejects by reason: the text after the SMTP code (which is
// reject_code already) and after the rejected address, with IP addresses made "*" so that a
// block list's rejects of many clients count as one reason.
constexpr const char* kRejectReason =
    "concat_ws(' ', reject_code, left(regexp_replace(regexp_replace(regexp_replace(regexp_replace("
    "response, '^[245][0-9][0-9]( [245]\\.[0-9]{1,3}\\.[0-9]{1,3})? ', ''), '^<[^>]*>: ', ''), "
    "'\\m[0-9]{1,3}(\\.[0-9]{1,3}){3}\\M', '*', 'g'), '\\[[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*\\]', "
    "'[*]', 'g'), 80))";

absl::StatusOr<mailfleet::v1::StatsResponse> PgStore::Stats(
    const mailfleet::v1::StatsRequest& request) {
  using google::protobuf::util::TimeUtil;
  // The same window over events and over recipients joined to their messages.
  SqlFilter filter;
  std::vector<std::string> where_events = {"true"};
  std::vector<std::string> where_rcpt = {"true"};
  std::vector<std::string> where_handoff = {"true"};
  std::vector<std::string> where_relay_client = {"true"};
  filter.HostsAndWindow(
      request.hosts(), request.has_since() ? &request.since() : nullptr,
      request.has_until() ? &request.until() : nullptr,
      {{"host", "time"}, {"m.host", "r.time"}, {"d.host", "d.time"}, {"c.host", "c.time"}},
      {&where_events, &where_rcpt, &where_handoff, &where_relay_client});
  const auto& params = filter.params();
  std::string we = fmt::format("{}", fmt::join(where_events, " AND "));
  std::string wr = fmt::format("{}", fmt::join(where_rcpt, " AND "));
  // A content filter (amavis and the like) takes a message by SMTP or a pipe and hands it
  // back to the same Postfix, where it is queued again under a new queue id: the delivery
  // to the filter says "queued as NEWID", and NEWID then has a client= (or pickup) line on
  // the same host. Those re-entries are not new mail, and the hand-offs are not deliveries;
  // counted as such, every filtered message would count twice as received and delivered.
  //
  // One fleet host hands a message to another the same way (h1 relays to h2): the delivery
  // on h1 says "queued as QID" and QID has a client= line on h2, within an hour of it. Each
  // host's report counts both sides, as that host did receive and deliver the message; the
  // fleet's does not: the message entered the fleet once and left it (or reached a mailbox)
  // once. Those hops are counted as `relayed`. With --host, only hops between the hosts
  // named count.
  std::string reinjected = fmt::format(
      "WITH reinjected AS MATERIALIZED (SELECT DISTINCT d.host, d.queued_as AS queue_id "
      "FROM events d WHERE d.kind = 'delivery' AND d.status = 'sent' AND d.queued_as IS NOT "
      "NULL AND {0} AND EXISTS (SELECT 1 FROM events c WHERE c.host = d.host AND c.queue_id = "
      "d.queued_as AND c.kind IN ('client', 'pickup'))), "
      "relayed AS MATERIALIZED (SELECT DISTINCT d.host AS from_host, c.host, c.queue_id "
      "FROM events d JOIN events c ON c.queue_id = d.queued_as AND c.host <> d.host "
      "AND c.kind = 'client' AND c.time BETWEEN d.time - interval '1 hour' "
      "AND d.time + interval '1 hour' WHERE d.kind = 'delivery' AND d.status = 'sent' "
      "AND d.queued_as IS NOT NULL AND {0} AND {1})",
      fmt::join(where_handoff, " AND "), fmt::join(where_relay_client, " AND "));
  // Whether an events row belongs to a re-entered message, or hands its message to a filter;
  // whether it belongs to a message another fleet host relayed here, or relays it on to one.
  const char* is_reentry = "coalesce((host, queue_id) IN (SELECT * FROM reinjected), false)";
  const char* is_handoff = "coalesce((host, queued_as) IN (SELECT * FROM reinjected), false)";
  const char* is_relayed_in =
      "coalesce((host, queue_id) IN (SELECT host, queue_id FROM relayed), false)";
  const char* is_relayed_out =
      "coalesce((host, queued_as) IN (SELECT from_host, queue_id FROM relayed), false)";
  uint32_t top = request.top() == 0 ? 10 : std::min<uint32_t>(request.top(), 1000);

  mailfleet::v1::StatsResponse response;
  std::map<std::string, mailfleet::v1::MailStats*> by_host;
  auto stats_for = [&](const pqxx::field& host) -> mailfleet::v1::MailStats* {
    if (host.is_null()) return response.mutable_fleet();
    auto it = by_host.find(host.c_str());
    if (it != by_host.end()) return it->second;
    auto* s = response.add_hosts();
    s->set_host(host.c_str());
    by_host[host.c_str()] = s;
    return s;
  };
  auto u = [](const pqxx::field& f) -> uint64_t { return f.is_null() ? 0 : f.as<uint64_t>(); };
  auto d = [](const pqxx::field& f) -> double { return f.is_null() ? 0 : f.as<double>(); };

  RETURN_IF_ERROR(WithConnection("computing mail statistics", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto rows = tx.exec_params(
        fmt::format(R"sql({0}
      SELECT host,
        count(*) FILTER (WHERE kind IN ('client', 'pickup') AND NOT reentry),
        sum(size) FILTER (WHERE kind = 'queued' AND NOT reentry),
        count(*) FILTER (WHERE kind = 'delivery' AND status = 'sent' AND NOT handoff),
        count(*) FILTER (WHERE kind = 'delivery' AND status = 'sent' AND service = 'smtp'
                         AND NOT handoff),
        count(*) FILTER (WHERE kind = 'delivery' AND status = 'deferred'),
        count(*) FILTER (WHERE kind = 'delivery' AND status = 'bounced'),
        count(*) FILTER (WHERE kind = 'expired'),
        count(*) FILTER (WHERE kind = 'reject'),
        count(*) FILTER (WHERE kind = 'hold'),
        percentile_cont(0.5) WITHIN GROUP (ORDER BY delay)
          FILTER (WHERE kind = 'delivery' AND status = 'sent' AND NOT handoff),
        percentile_cont(0.95) WITHIN GROUP (ORDER BY delay)
          FILTER (WHERE kind = 'delivery' AND status = 'sent' AND NOT handoff),
        max(delay) FILTER (WHERE kind = 'delivery' AND status = 'sent' AND NOT handoff),
        count(*) FILTER (WHERE kind = 'sasl_failure'),
        count(*) FILTER (WHERE kind = 'dovecot_auth_failure'),
        count(*) FILTER (WHERE severity = 'warning'),
        count(*) FILTER (WHERE severity = 'error'),
        count(*) FILTER (WHERE severity = 'fatal'),
        count(*) FILTER (WHERE severity = 'panic'),
        count(*) FILTER (WHERE kind = 'delivery' AND status = 'sent' AND handoff),
        -- The fleet's own: without the hops between its hosts.
        count(*) FILTER (WHERE kind IN ('client', 'pickup') AND NOT reentry AND NOT relayed_in),
        sum(size) FILTER (WHERE kind = 'queued' AND NOT reentry AND NOT relayed_in),
        count(*) FILTER (WHERE kind = 'delivery' AND status = 'sent' AND NOT handoff
                         AND NOT relayed_out),
        count(*) FILTER (WHERE kind = 'delivery' AND status = 'sent' AND service = 'smtp'
                         AND NOT handoff AND NOT relayed_out),
        percentile_cont(0.5) WITHIN GROUP (ORDER BY delay)
          FILTER (WHERE kind = 'delivery' AND status = 'sent' AND NOT handoff
                  AND NOT relayed_out),
        percentile_cont(0.95) WITHIN GROUP (ORDER BY delay)
          FILTER (WHERE kind = 'delivery' AND status = 'sent' AND NOT handoff
                  AND NOT relayed_out),
        max(delay) FILTER (WHERE kind = 'delivery' AND status = 'sent' AND NOT handoff
                           AND NOT relayed_out),
        count(*) FILTER (WHERE kind = 'client' AND relayed_in)
      FROM (SELECT *, {2} AS reentry, {3} AS handoff, {4} AS relayed_in, {5} AS relayed_out
            FROM events WHERE {1}) e
      GROUP BY GROUPING SETS ((host), ()) ORDER BY host NULLS LAST)sql",
                    reinjected, we, is_reentry, is_handoff, is_relayed_in, is_relayed_out),
        pqxx::prepare::make_dynamic_params(params));
    for (const auto& row : rows) {
      auto* s = stats_for(row[0]);
      // The fleet row takes the columns without the hops between hosts (20 to 27).
      const int f = row[0].is_null() ? 19 : 0;
      s->set_received(u(row[1 + f]));
      s->set_bytes_received(u(row[2 + f]));
      s->set_delivered(u(row[3 + f]));
      s->set_forwarded(u(row[4 + f]));
      s->set_deferred(u(row[5]));
      s->set_bounced(u(row[6]));
      s->set_expired(u(row[7]));
      s->set_rejected(u(row[8]));
      s->set_held(u(row[9]));
      s->set_delay_p50(d(row[f ? 24 : 10]));
      s->set_delay_p95(d(row[f ? 25 : 11]));
      s->set_delay_max(d(row[f ? 26 : 12]));
      if (f) s->set_relayed(u(row[27]));
      s->set_sasl_failures(u(row[13]));
      s->set_dovecot_auth_failures(u(row[14]));
      s->set_warnings(u(row[15]));
      s->set_errors(u(row[16]));
      s->set_fatals(u(row[17]));
      s->set_panics(u(row[18]));
      s->set_content_filtered(u(row[19]));
    }
    // Top lists: (select over events or recipients, key expression, size expression, target).
    struct TopList {
      const char* from;
      const char* host;
      const char* key;
      const char* bytes;
      google::protobuf::RepeatedPtrField<mailfleet::v1::CountEntry>* (*field)(
          mailfleet::v1::MailStats*);
    };
    const TopList lists[] = {
        {"events", "host", "sender", "size",
         [](mailfleet::v1::MailStats* s) { return s->mutable_top_senders(); }},
        {"events", "host", "lower(split_part(sender, '@', 2))", "size",
         [](mailfleet::v1::MailStats* s) { return s->mutable_top_sender_domains(); }},
        {"recipients r JOIN messages m ON m.id = r.message", "m.host", "r.recipient", "m.size",
         [](mailfleet::v1::MailStats* s) { return s->mutable_top_recipients(); }},
        {"recipients r JOIN messages m ON m.id = r.message", "m.host",
         "lower(split_part(r.recipient, '@', 2))", "m.size",
         [](mailfleet::v1::MailStats* s) { return s->mutable_top_recipient_domains(); }},
        {"events", "host", kRejectReason, "0",
         [](mailfleet::v1::MailStats* s) { return s->mutable_rejects_by_reason(); }},
    };
    for (size_t i = 0; i < std::size(lists); ++i) {
      const TopList& t = lists[i];
      bool rcpt = i == 2 || i == 3;
      std::string filter =
          i <= 1 ? fmt::format("kind = 'queued' AND sender IS NOT NULL AND sender <> '' AND NOT {}",
                               is_reentry)
          : rcpt ? "r.status = 'sent' AND NOT coalesce((m.host, r.queued_as) IN (SELECT * FROM "
                   "reinjected), false)"
                 : "kind = 'reject'";
      // Each host's rows, and the fleet's (host NULL), which leave out the hops between
      // fleet hosts: a relayed message's sender is counted where it entered the fleet, its
      // recipient where it was delivered last.
      std::string hop = i <= 1 ? is_relayed_in
                        : rcpt ? "coalesce((m.host, r.queued_as) IN (SELECT from_host, queue_id "
                                 "FROM relayed), false)"
                               : "false";
      auto top_rows = tx.exec_params(
          fmt::format("{7} SELECT h, k, n, b FROM (SELECT h, k, count(*) AS n, "
                      "coalesce(sum(sz), 0) AS b, row_number() OVER (PARTITION BY h IS NULL, h "
                      "ORDER BY count(*) DESC, k) AS rank FROM ("
                      "SELECT {1} AS h, {2} AS k, {3} AS sz FROM {0} WHERE {4} AND {5} UNION ALL "
                      "SELECT NULL, {2}, {3} FROM {0} WHERE {4} AND {5} AND NOT {8}) rows "
                      "GROUP BY h, k) x WHERE rank <= {6}",
                      t.from, t.host, t.key, t.bytes, rcpt ? wr : we, filter, top, reinjected, hop),
          pqxx::prepare::make_dynamic_params(params));
      for (const auto& row : top_rows) {
        if (row[1].is_null() || std::string_view(row[1].c_str()).empty()) continue;
        auto* entry = t.field(stats_for(row[0]))->Add();
        entry->set_key(row[1].c_str());
        entry->set_count(u(row[2]));
        entry->set_bytes(u(row[3]));
      }
    }
    return absl::OkStatus();
  }));
  return response;
}

}  // namespace mailfleet::collector
