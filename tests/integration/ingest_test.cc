// Log ingest on a real PostgreSQL: COPY plus the per-source watermark in one transaction.
#include "agent/tail/wire_batch.h"
#include "collector/store/pg_store.h"
#include "common/parse/event_json.h"
#include "common/parse/parser.h"
#include "fmt/format.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/integration/pg_test_support.h"

namespace mailfleet::collector {
namespace {

using agent::EventToProto;

using std::chrono::seconds;

class IngestTest : public mailfleet::testing::FreshDatabaseTest {
 protected:
  void SetUp() override {
    FreshDatabaseTest::SetUp();
    if (HasFatalFailure()) return;
    auto store = PgStore::Create(conninfo(), {});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  // A batch of the given lines as the agent would send them: parsed, with end offsets.
  mailfleet::v1::LogBatch Batch(const std::string& source, uint64_t first_offset,
                                const std::vector<std::string>& lines) {
    mailfleet::v1::LogBatch batch;
    batch.set_source_id(source);
    batch.set_path("/var/log/mail.log");
    batch.set_first_offset(first_offset);
    parse::Parser parser(now_);
    parse::LogEvent e;
    uint64_t offset = first_offset;
    for (const auto& line : lines) {
      parser.Parse(line, &e);
      offset += line.size() + 1;
      EventToProto(e, offset, batch.add_events());
    }
    return batch;
  }

  std::vector<std::string> Lines(int first, int last) {
    std::vector<std::string> out;
    for (int i = first; i <= last; ++i) {
      out.push_back(fmt::format(
          "Nov 29 02:57:{:02} h1 postfix/qmgr[8170]: {:010X}: from=<a{}@example.org>, size={}, "
          "nrcpt=1 (queue active)",
          i % 60, i, i, 100 + i));
    }
    return out;
  }

  const TimePoint now_ = std::chrono::system_clock::now();
  std::unique_ptr<PgStore> store_;
};

TEST_F(IngestTest, AReplayedBatchInsertsNothingTwice) {
  auto batch = Batch("src1", 0, Lines(1, 50));
  auto first = store_->IngestBatch("h1", batch, now_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->inserted, 50u);
  auto again = store_->IngestBatch("h1", batch, now_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->inserted, 0u);
  EXPECT_EQ(again->duplicates, 50u);
  EXPECT_EQ(QueryOne("SELECT count(*) FROM events"), "50");
}

TEST_F(IngestTest, AnOverlappingBatchStoresOnlyTheNewLines) {
  auto lines = Lines(1, 30);
  ASSERT_TRUE(
      store_->IngestBatch("h1", Batch("src1", 0, {lines.begin(), lines.begin() + 20}), now_).ok());
  // After a reconnect the agent sends from its last acked offset: lines 11..30.
  uint64_t offset = 0;
  for (int i = 0; i < 10; ++i) offset += lines[i].size() + 1;
  auto r =
      store_->IngestBatch("h1", Batch("src1", offset, {lines.begin() + 10, lines.end()}), now_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inserted, 10u);
  EXPECT_EQ(r->duplicates, 10u);
  EXPECT_EQ(QueryOne("SELECT count(*) FROM events"), "30");
  EXPECT_EQ(QueryOne("SELECT count(DISTINCT raw) FROM events"), "30");
}

TEST_F(IngestTest, SourcesAndHostsHaveTheirOwnWatermarks) {
  auto lines = Lines(1, 10);
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("src1", 0, lines), now_).ok());
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("src2", 0, lines), now_).ok());
  ASSERT_TRUE(store_->IngestBatch("h2", Batch("src1", 0, lines), now_).ok());
  EXPECT_EQ(QueryOne("SELECT count(*) FROM events"), "30");
  EXPECT_EQ(QueryOne("SELECT count(*) FROM log_sources"), "3");
}

// The collector stores the batches that waited on a stream in one transaction: several
// sources, a replayed stretch within them, one watermark each.
TEST_F(IngestTest, BatchesStoredTogetherKeepEachSourcesWatermark) {
  auto lines = Lines(1, 30);
  uint64_t offset10 = 0;
  for (int i = 0; i < 10; ++i) offset10 += lines[i].size() + 1;
  auto a1 = Batch("a", 0, {lines.begin(), lines.begin() + 20});
  auto b1 = Batch("b", 0, {lines.begin(), lines.begin() + 5});
  auto a2 = Batch("a", offset10, {lines.begin() + 10, lines.end()});  // 11..20 again, then new
  auto r = store_->IngestBatches("h1", {&a1, &b1, &a2}, now_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inserted, 35u);
  EXPECT_EQ(r->duplicates, 10u);
  EXPECT_EQ(QueryOne("SELECT count(*) FROM events WHERE source_id = 'a'"), "30");
  EXPECT_EQ(QueryOne("SELECT count(DISTINCT raw) FROM events WHERE source_id = 'a'"), "30");
  EXPECT_EQ(QueryOne("SELECT string_agg(source_id || ':' || lines || ':' || duplicates, ' ' "
                     "ORDER BY source_id) FROM log_sources"),
            "a:30:10 b:5:0");
  // The whole group again, as after a reconnect: nothing twice.
  r = store_->IngestBatches("h1", {&a1, &b1, &a2}, now_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inserted, 0u);
  EXPECT_EQ(QueryOne("SELECT count(*) FROM events"), "35");
}

// A group's lines stored ahead while the group before it commits; they are kept only if the
// watermark they were chosen by is the one that group left, else stored again.
TEST_F(IngestTest, LinesStoredAheadCommitOnlyOnTheWatermarkTheyAssumed) {
  auto lines = Lines(1, 30);
  std::vector<uint64_t> end(31, 0);  // end[i]: end offset of line i
  for (int i = 1; i <= 30; ++i) end[i] = end[i - 1] + lines[i - 1].size() + 1;
  auto g1 = Batch("s", 0, {lines.begin(), lines.begin() + 20});
  auto g2 = Batch("s", end[20], {lines.begin() + 20, lines.end()});

  // In order: g2 stored ahead, g1 committed, then g2.
  auto ahead = store_->IngestAhead("h1", {&g2}, now_, {{"s", end[20]}});
  ASSERT_TRUE(ahead.ok()) << ahead.status();
  ASSERT_NE(*ahead, nullptr);
  ASSERT_TRUE(store_->IngestBatch("h1", g1, now_).ok());
  auto done = store_->FinishIngest(std::move(*ahead));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->inserted, 10u);
  EXPECT_EQ(QueryOne("SELECT count(DISTINCT raw) || '/' || count(*) FROM events"), "30/30");
  EXPECT_EQ(QueryOne("SELECT watermark FROM log_sources"), std::to_string(end[30]));

  // A replay moved the watermark past what was assumed: stored again from that watermark.
  auto h1 = Batch("t", 0, {lines.begin(), lines.begin() + 20});
  auto overlap = Batch("t", end[10], {lines.begin() + 10, lines.end()});
  ahead = store_->IngestAhead("h1", {&overlap}, now_, {{"t", end[10]}});
  ASSERT_TRUE(ahead.ok() && *ahead != nullptr);
  ASSERT_TRUE(store_->IngestBatch("h1", h1, now_).ok());
  done = store_->FinishIngest(std::move(*ahead));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->inserted, 10u);
  EXPECT_EQ(done->duplicates, 10u);
  EXPECT_EQ(QueryOne("SELECT count(DISTINCT raw) || '/' || count(*) FROM events "
                     "WHERE source_id = 't'"),
            "30/30");

  // Dropped unfinished: rolled back.
  auto u = Batch("u", 0, lines);
  ahead = store_->IngestAhead("h1", {&u}, now_, {});
  ASSERT_TRUE(ahead.ok() && *ahead != nullptr);
  ahead->reset();
  EXPECT_EQ(QueryOne("SELECT count(*) FROM events WHERE source_id = 'u'"), "0");
}

// Storing ahead never waits for a connection: with none free it declines.
TEST_F(IngestTest, StoringAheadDeclinesWhenEveryConnectionIsLentOut) {
  auto store = PgStore::Create(conninfo(), {.pool_size = 1});
  ASSERT_TRUE(store.ok()) << store.status();
  auto lines = Lines(1, 5);
  auto a = Batch("a", 0, lines);
  auto first = (*store)->IngestAhead("h1", {&a}, now_, {});
  ASSERT_TRUE(first.ok() && *first != nullptr);
  auto second = (*store)->IngestAhead("h1", {&a}, now_, {});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, nullptr);
  auto done = (*store)->FinishIngest(std::move(*first));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->inserted, 5u);
}

TEST_F(IngestTest, ParsedFieldsLandInTheirColumns) {
  ASSERT_TRUE(
      store_
          ->IngestBatch(
              "h2",
              Batch("s", 0,
                    {"Nov 29 02:57:41 h2 postfix/smtp[8482]: 555D8106188: to=<alice@h3.lab.test>, "
                     "relay=h3.lab.test[198.18.0.13]:25, delay=0.02, delays=0.01/0.01/0/0, "
                     "dsn=2.0.0, "
                     "status=sent (250 2.0.0 Ok: queued as 59370106184)"}),
              now_)
          .ok());
  EXPECT_EQ(QueryOne("SELECT concat_ws('|', host, kind, queue_id, recipient, relay_host, relay_ip, "
                     "status, dsn, queued_as, syslog_host, service) FROM events"),
            "h2|delivery|555D8106188|alice@h3.lab.test|h3.lab.test|198.18.0.13|sent|2.0.0|"
            "59370106184|h2|smtp");
  EXPECT_EQ(QueryOne("SELECT delay::text FROM events"), "0.02");
  EXPECT_EQ(QueryOne("SELECT concat_ws('|', delays::text, pid, relay_port, size, nrcpt, "
                     "truncated, invalid_utf8, raw_bytes IS NULL, client_ip IS NULL, "
                     "to_char(time AT TIME ZONE 'UTC', 'MM-DD HH24:MI:SS.US')) FROM events"),
            "{0.01,0.01,0,0}|8482|25|f|f|t|t|11-29 02:57:41.000000");  // NULLs are skipped
}

// An agent's time the server cannot hold would make the batch fail on every resend: such a
// line is stored at the time it was received. Early years keep their own time.
TEST_F(IngestTest, TimesATimestampCannotHoldFallBackToTheReceivedTime) {
  auto batch = Batch("s", 0, Lines(1, 3));
  batch.mutable_events(0)->set_time_us(INT64_MAX / 2);
  batch.mutable_events(1)->set_time_us(-62'000'000'000'000'000);  // 0005-08-..
  auto r = store_->IngestBatch("h1", batch, now_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inserted, 3u);
  EXPECT_EQ(QueryOne("SELECT count(*) FROM events WHERE time = received"), "1");
  EXPECT_EQ(QueryOne("SELECT extract(year FROM min(time))::int FROM events"), "5");
}

TEST_F(IngestTest, HostileBytesAreStoredSafelyAndExactly) {
  std::string nul("Nov 29 02:57:41 h1 postfix/smtpd[1]: a\0b", 40);
  std::string bad = "Nov 29 02:57:41 h1 postfix/smtpd[1]: bad \xff\xfe utf8 \\ and tab\t!";
  auto r = store_->IngestBatch("h1", Batch("s", 0, {nul, bad}), now_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inserted, 2u);
  EXPECT_EQ(QueryOne("SELECT count(*) FROM events WHERE invalid_utf8 AND raw_bytes IS NOT NULL"),
            "2");
  std::string hex;
  for (unsigned char c : bad) hex += fmt::format("{:02x}", c);
  EXPECT_EQ(QueryOne("SELECT encode(raw_bytes, 'hex') FROM events WHERE raw LIKE '%utf8%'"), hex);
  EXPECT_EQ(QueryOne("SELECT length(raw) FROM events WHERE raw LIKE '%a_b'"), "40");
}

TEST_F(IngestTest, QueriesFilterByMessageIdAcrossHosts) {
  // h1 relays to h2 (queued as), both log the message-id.
  ASSERT_TRUE(
      store_
          ->IngestBatch(
              "h1",
              Batch(
                  "a", 0,
                  {"Nov 29 02:57:41 h1 postfix/cleanup[1]: AAAA11111: message-id=<m1@example.org>",
                   "Nov 29 02:57:41 h1 postfix/smtp[2]: AAAA11111: to=<x@h2.example>, "
                   "relay=h2[198.18.0.12]:25, "
                   "delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "
                   "BBBB22222)",
                   "Nov 29 02:57:42 h1 postfix/cleanup[1]: CCCC33333: "
                   "message-id=<other@example.org>"}),
              now_)
          .ok());
  ASSERT_TRUE(
      store_
          ->IngestBatch(
              "h2",
              Batch(
                  "b", 0,
                  {"Nov 29 02:57:41 h2 postfix/cleanup[1]: BBBB22222: message-id=<m1@example.org>",
                   "Nov 29 02:57:41 h2 postfix/qmgr[1]: BBBB22222: removed"}),
              now_)
          .ok());
  mailfleet::v1::LogQuery q;
  q.set_message_id("m1@example.org");
  auto events = store_->QueryEvents(q);
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_EQ(events->size(), 4u);

  mailfleet::v1::LogQuery by_domain;
  by_domain.set_to("h2.example");
  EXPECT_EQ(store_->QueryEvents(by_domain)->size(), 1u);

  mailfleet::v1::LogQuery grep;
  grep.set_grep("QUEUED AS bbbb");
  EXPECT_EQ(store_->QueryEvents(grep)->size(), 1u);

  mailfleet::v1::LogQuery literal;
  literal.set_grep("%");  // LIKE wildcards match only themselves
  EXPECT_EQ(store_->QueryEvents(literal)->size(), 0u);

  mailfleet::v1::LogQuery host;
  host.add_hosts("h2");
  host.set_limit(1);
  auto newest = store_->QueryEvents(host);
  ASSERT_EQ(newest->size(), 1u);
  EXPECT_EQ((*newest)[0].fields().at("queue_id"), "BBBB22222");
  EXPECT_EQ((*newest)[0].kind(), "removed");
}

// The newest lines are looked for in ever wider windows back from now (there is no btree on
// time): whatever the limit, filters and range, they are the ones a plain sort gives, lines
// stamped in the future and weeks back included.
TEST_F(IngestTest, NewestLinesAreFoundHoweverFarBackTheyLie) {
  const int64_t now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(now_.time_since_epoch()).count();
  const int64_t minute = 60'000'000;
  // Minutes from now of each line: a few per window, the future, beyond a week.
  const std::vector<int64_t> ages = {-90, 0,   0,    1,    3,    5,    12,    45,    70,   200,
                                     400, 900, 1500, 3000, 5000, 9000, 12000, 20000, 43000};
  std::vector<std::string> lines;
  for (size_t i = 0; i < ages.size(); ++i) {
    lines.push_back(fmt::format("{} h{} postfix/qmgr[1]: {:010X}: removed",
                                parse::FormatTimeUs(now_us - ages[i] * minute - 7), i % 2 + 1,
                                i + 1));
  }
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("s", 0, lines), now_).ok());
  ASSERT_EQ(QueryOne("SELECT count(*) FROM events WHERE time IS NOT NULL"),
            std::to_string(lines.size()));
  auto check = [&](mailfleet::v1::LogQuery q, const std::string& where) {
    auto got = store_->QueryEvents(q);
    ASSERT_TRUE(got.ok()) << got.status();
    std::vector<std::string> raws;
    for (const auto& e : *got) raws.push_back(e.raw());
    std::string want = QueryOne(fmt::format(
        "SELECT coalesce(string_agg(raw, '|' ORDER BY time, id), '') FROM (SELECT raw, time, id "
        "FROM events WHERE {} ORDER BY time DESC, id DESC LIMIT {}) n",
        where, q.limit()));
    EXPECT_EQ(fmt::format("{}", fmt::join(raws, "|")), want)
        << "limit " << q.limit() << " where " << where;
  };
  using google::protobuf::util::TimeUtil;
  for (uint32_t limit = 1; limit <= ages.size() + 1; ++limit) {
    mailfleet::v1::LogQuery all;
    all.set_limit(limit);
    check(all, "true");
    mailfleet::v1::LogQuery host = all;
    host.add_hosts("h2");
    check(host, "host = 'h2'");
    mailfleet::v1::LogQuery range = all;
    *range.mutable_since() = TimeUtil::MicrosecondsToTimestamp(now_us - 4000 * minute);
    *range.mutable_until() = TimeUtil::MicrosecondsToTimestamp(now_us - 30 * minute);
    check(range, fmt::format("time >= to_timestamp({0}::bigint / 1e6) AND "
                             "time < to_timestamp({1}::bigint / 1e6)",
                             now_us - 4000 * minute, now_us - 30 * minute));
  }
}

// A partition with rows but no statistics is analysed once, so that the planner knows its
// times (without them it scans the whole partition for a time window).
TEST_F(IngestTest, NewPartitionsAreAnalysedOnce) {
  auto none = store_->AnalyzeNewPartitions();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0);  // no rows anywhere yet
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("s", 0, Lines(1, 500)), now_).ok());
  std::string partition = QueryOne("SELECT DISTINCT tableoid::regclass::text FROM events");
  EXPECT_EQ(QueryOne(fmt::format("SELECT reltuples < 0 FROM pg_class WHERE oid = '{}'::regclass",
                                 partition)),
            "t");
  EXPECT_EQ(*store_->AnalyzeNewPartitions(), 1);
  EXPECT_EQ(
      QueryOne(fmt::format("SELECT reltuples FROM pg_class WHERE oid = '{}'::regclass", partition)),
      "500");
  EXPECT_EQ(*store_->AnalyzeNewPartitions(), 0);
}

// Lines that fill only the narrow columns go in by a COPY of those, the others by one of
// every column, after them: each line keeps every field, and ids still follow the lines.
TEST_F(IngestTest, NarrowAndWideLinesKeepTheirFieldsAndOrder) {
  const std::vector<std::string> lines = {
      "Nov 29 02:57:41 h1 postfix/smtpd[11]: connect from mx.example.org[198.18.0.21]",
      "Nov 29 02:57:41 h1 postfix/qmgr[12]: 4F2A11C0B1: from=<a@example.org>, size=2048, "
      "nrcpt=1 (queue active)",
      "Nov 29 02:57:42 h1 postfix/postscreen[13]: PASS OLD [198.18.0.22]:40210",
      "Nov 29 02:57:42 h1 postfix/smtp[14]: 4F2A11C0B1: to=<b@example.net>, "
      "relay=mx.example.net[198.18.0.23]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, "
      "status=sent (250 2.0.0 Ok)",
      "Nov 29 02:57:43 h1 postfix/smtpd[11]: connect from bad\xff.example[198.18.0.24]",  // not
                                                                                          // UTF-8
      "Nov 29 02:57:43 h1 postfix/qmgr[12]: 4F2A11C0B1: removed",
      "Nov 29 02:57:44 h1 postfix/cleanup[15]: 5A3B22D1C2: message-id=<m1@example.org>",
  };
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("mixed", 0, lines), now_).ok());
  EXPECT_EQ(
      QueryOne("SELECT string_agg(coalesce(client_ip, '-') || ' ' || "
               "coalesce(size::text, '-') || ' ' || coalesce(relay_port::text, '-') || ' ' || "
               "coalesce(delays::text, '-') || ' ' || coalesce(queue_id, '-') || ' ' || "
               "(raw_bytes IS NOT NULL) || ' ' || invalid_utf8, '|' ORDER BY id) FROM events"),
      "198.18.0.21 - - - - false false|- 2048 - - 4F2A11C0B1 false false|"
      "198.18.0.22 - - - - false false|- - 25 {0.1,0,0.2,0.2} 4F2A11C0B1 false false|"
      "198.18.0.24 - - - - true true|- - - - 4F2A11C0B1 false false|"
      "- - - - 5A3B22D1C2 false false");
  EXPECT_EQ(QueryOne("SELECT message_id FROM events WHERE queue_id = '5A3B22D1C2'"),
            "m1@example.org");
  EXPECT_EQ(QueryOne("SELECT count(*) FROM (SELECT id - lag(id) OVER (ORDER BY end_offset) AS step "
                     "FROM events) s WHERE step <= 0"),
            "0");
  EXPECT_EQ(QueryOne("SELECT string_agg(pid::text || ' ' || service, ',' ORDER BY id) FROM events"),
            "11 smtpd,12 qmgr,13 postscreen,14 smtp,11 smtpd,12 qmgr,15 cleanup");
}

// The index's filled block ranges are summarised on request, each once.
TEST_F(IngestTest, SummarizingTheIndexTakesEachFilledRangeOnce) {
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("big", 0, Lines(1, 20'000)), now_).ok());
  auto all = store_->SummarizeEvents();  // autovacuum may have summarised some already
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*store_->SummarizeEvents(), 0);
  // The first range of the lines' partition loses its summary: it alone is summarised again.
  EXPECT_EQ(QueryOne("SELECT count(brin_desummarize_range(i.inhrelid, 0)) FROM pg_inherits i "
                     "JOIN pg_index x ON x.indexrelid = i.inhrelid "
                     "WHERE i.inhparent = 'events_time_id'::regclass "
                     "AND x.indrelid = (SELECT DISTINCT tableoid FROM events)"),
            "1");
  EXPECT_EQ(*store_->SummarizeEvents(), 1);
  EXPECT_EQ(*store_->SummarizeEvents(), 0);
}

// The raw lines of what a follow look returned, from the queue id on, in order.
std::vector<std::string> Raws(const absl::StatusOr<std::vector<mailfleet::v1::StoredEvent>>& got) {
  std::vector<std::string> raws;
  if (!got.ok()) return {"error: " + std::string(got.status().message())};
  for (const auto& e : *got) raws.push_back(e.raw().substr(e.raw().find(": ") + 2));
  return raws;
}

// A transaction's lines are numbered from blocks of ids reserved with one nextval each: more
// lines than a block holds take two blocks, every id is used once, and ids grow with the
// lines' order and from one transaction to the next.
TEST_F(IngestTest, LargeTransactionsNumberLinesFromSeveralIdBlocks) {
  EXPECT_EQ(QueryOne("SELECT increment_by FROM pg_sequences WHERE sequencename = 'events_id_seq'"),
            "65536");
  auto lines = Lines(1, 70'000);
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("big", 0, lines), now_).ok());
  EXPECT_EQ(QueryOne("SELECT count(DISTINCT id) FROM events"), "70000");
  EXPECT_EQ(QueryOne("SELECT count(*) FROM (SELECT id - lag(id) OVER (ORDER BY end_offset) AS step "
                     "FROM events) s WHERE step <= 0"),
            "0");
  auto more = Lines(70'001, 70'003);
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("small", 0, more), now_).ok());
  EXPECT_EQ(QueryOne("SELECT min(id) > (SELECT max(id) FROM events WHERE source_id = 'big') "
                     "FROM events WHERE source_id = 'small'"),
            "t");
  EXPECT_EQ(QueryOne("SELECT count(DISTINCT id) FROM events"), "70003");
}

// `logs --follow` shows the lines that commit after it starts, each once; ids of batches
// that never committed leave gaps in the sequence.
TEST_F(IngestTest, FollowingShowsOnlyLaterLinesOnce) {
  auto lines = Lines(1, 5);
  ASSERT_TRUE(
      store_->IngestBatch("h1", Batch("s", 0, {lines.begin(), lines.begin() + 3}), now_).ok());
  auto cursor = store_->StartFollow();
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  EXPECT_TRUE(Raws(store_->FollowEvents({}, &*cursor)).empty());
  // A gap in the ids, as batches that rolled back leave: 50,000 blocks of them.
  QueryOne("SELECT count(nextval('events_id_seq')) FROM generate_series(1, 50000)");
  uint64_t offset = 0;
  for (int i = 0; i < 3; ++i) offset += lines[i].size() + 1;
  ASSERT_TRUE(
      store_->IngestBatch("h1", Batch("s", offset, {lines.begin() + 3, lines.end()}), now_).ok());
  auto later = Raws(store_->FollowEvents({}, &*cursor));
  ASSERT_EQ(later.size(), 2u);
  EXPECT_NE(later[0].find("a4@"), std::string::npos) << later[0];
  EXPECT_NE(later[1].find("a5@"), std::string::npos) << later[1];
  EXPECT_TRUE(Raws(store_->FollowEvents({}, &*cursor)).empty());
}

// Streams store concurrently and commit in any order: a batch copied first (smaller ids)
// can commit after one copied later. Following by "ids above the last shown" lost it.
TEST_F(IngestTest, FollowingKeepsLinesThatCommitAfterLaterIds) {
  auto cursor = store_->StartFollow();
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  auto lines = Lines(1, 6);
  auto slow = Batch("slow", 0, {lines.begin(), lines.begin() + 3});
  auto fast = Batch("fast", 0, {lines.begin() + 3, lines.end()});
  auto pending = store_->IngestAhead("h1", {&slow}, now_, {});  // copied, not committed
  ASSERT_TRUE(pending.ok() && *pending != nullptr);
  ASSERT_TRUE(store_->IngestBatch("h2", fast, now_).ok());  // larger ids, committed first
  auto first = Raws(store_->FollowEvents({}, &*cursor));
  ASSERT_EQ(first.size(), 3u);
  EXPECT_NE(first[0].find("a4@"), std::string::npos) << first[0];
  ASSERT_TRUE(store_->FinishIngest(std::move(*pending)).ok());
  EXPECT_EQ(QueryOne("SELECT min(id) > (SELECT max(id) FROM events WHERE source_id = 'slow') "
                     "FROM events WHERE source_id = 'fast'"),
            "t");
  auto second = Raws(store_->FollowEvents({}, &*cursor));
  ASSERT_EQ(second.size(), 3u) << "the slow batch's lines were skipped";
  EXPECT_NE(second[0].find("a1@"), std::string::npos) << second[0];
  EXPECT_NE(second[2].find("a3@"), std::string::npos) << second[2];
  EXPECT_TRUE(Raws(store_->FollowEvents({}, &*cursor)).empty());

  // Filters apply to what follows, and a look of more than one page gets every line.
  auto many = Lines(10, 2509);
  mailfleet::v1::LogQuery h3;
  h3.add_hosts("h3");
  ASSERT_TRUE(store_->IngestBatch("h3", Batch("many", 0, many), now_).ok());
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("other", 0, Lines(1, 5)), now_).ok());
  auto big = store_->FollowEvents(h3, &*cursor);
  ASSERT_TRUE(big.ok()) << big.status();
  ASSERT_EQ(big->size(), 2500u);
  std::set<int64_t> ids;
  for (const auto& e : *big) ids.insert(e.id());
  EXPECT_EQ(ids.size(), 2500u);
  EXPECT_TRUE(Raws(store_->FollowEvents(h3, &*cursor)).empty());
}

// A follower that fell behind catches up in looks of at most 10,000 lines; a batch with
// smaller ids that commits between two such looks is still shown, and nothing twice.
TEST_F(IngestTest, AFollowerThatFellBehindCatchesUpInBoundedLooks) {
  auto cursor = store_->StartFollow();
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  auto slow_lines = Lines(1, 3);
  auto slow = Batch("slow", 0, slow_lines);
  auto pending = store_->IngestAhead("h1", {&slow}, now_, {});  // the smallest ids
  ASSERT_TRUE(pending.ok() && *pending != nullptr);
  ASSERT_TRUE(store_->IngestBatch("h2", Batch("bulk", 0, Lines(10, 25009)), now_).ok());
  std::set<int64_t> ids;
  std::vector<size_t> looks;
  bool slow_committed = false;
  for (int i = 0; i < 10; ++i) {
    auto got = store_->FollowEvents({}, &*cursor);
    ASSERT_TRUE(got.ok()) << got.status();
    looks.push_back(got->size());
    for (const auto& e : *got) EXPECT_TRUE(ids.insert(e.id()).second) << "shown twice: " << e.id();
    if (!slow_committed) {  // commits while the follower is behind
      ASSERT_TRUE(store_->FinishIngest(std::move(*pending)).ok());
      slow_committed = true;
    }
    if (cursor->caught_up && got->empty()) break;
  }
  EXPECT_EQ(ids.size(), 25003u);
  ASSERT_GE(looks.size(), 3u);
  EXPECT_EQ(looks[0], 10000u);  // bounded
  EXPECT_TRUE(cursor->caught_up);
}

// A follower that started while a batch was being copied still gets it when it commits.
TEST_F(IngestTest, FollowingGetsBatchesThatWereRunningWhenItStarted) {
  auto lines = Lines(1, 4);
  auto running = Batch("r", 0, lines);
  auto pending = store_->IngestAhead("h1", {&running}, now_, {});
  ASSERT_TRUE(pending.ok() && *pending != nullptr);
  auto cursor = store_->StartFollow();
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  EXPECT_TRUE(Raws(store_->FollowEvents({}, &*cursor)).empty());
  ASSERT_TRUE(store_->FinishIngest(std::move(*pending)).ok());
  EXPECT_EQ(Raws(store_->FollowEvents({}, &*cursor)).size(), 4u);
  EXPECT_TRUE(Raws(store_->FollowEvents({}, &*cursor)).empty());
}

TEST_F(IngestTest, MessageLifecyclesAreDerivedAsLinesArrive) {
  std::vector<std::string> first = {
      "Nov 29 02:57:40 h1 postfix/smtpd[1]: 4C598106183: client=mx.example.org[192.0.2.7]",
      "Nov 29 02:57:40 h1 postfix/cleanup[2]: 4C598106183: message-id=<m1@example.org>",
      "Nov 29 02:57:40 h1 postfix/qmgr[3]: 4C598106183: from=<a@example.org>, size=315, nrcpt=1 "
      "(queue active)",
      "Nov 29 02:57:41 h1 postfix/smtp[4]: 4C598106183: to=<b@h3.lab.test>, "
      "relay=h2.lab.test[198.18.0.12]:25, delay=0.5, delays=0.1/0.1/0.2/0.1, dsn=4.4.1, "
      "status=deferred (connect to h2.lab.test[198.18.0.12]:25: Connection refused)"};
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("s", 0, first), now_).ok());
  EXPECT_EQ(QueryOne("SELECT concat_ws('|', origin, client_ip, message_id, sender, size, nrcpt, "
                     "removed) FROM messages"),
            "smtp|192.0.2.7|m1@example.org|a@example.org|315|1|f");
  EXPECT_EQ(QueryOne("SELECT concat_ws('|', status, dsn, attempts) FROM recipients"),
            "deferred|4.4.1|1");

  uint64_t offset = 0;
  for (const auto& l : first) offset += l.size() + 1;
  std::vector<std::string> second = {
      "Nov 29 02:58:41 h1 postfix/smtp[4]: 4C598106183: to=<b@h3.lab.test>, "
      "relay=h2.lab.test[198.18.0.12]:25, delay=61, delays=60/0.1/0.2/0.7, dsn=2.0.0, "
      "status=sent (250 2.0.0 Ok: queued as 555D8106188)",
      "Nov 29 02:58:41 h1 postfix/qmgr[3]: 4C598106183: removed"};
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("s", offset, second), now_).ok());
  for (const auto& l : second) offset += l.size() + 1;
  // Later, Postfix hands the same queue id to another message.
  ASSERT_TRUE(store_
                  ->IngestBatch("h1",
                                Batch("s", offset,
                                      {"Nov 29 03:10:00 h1 postfix/pickup[5]: 4C598106183: uid=0 "
                                       "from=<root@h1.lab.test>"}),
                                now_)
                  .ok());
  EXPECT_EQ(QueryOne("SELECT concat_ws('|', status, dsn, queued_as, relay_host, attempts) "
                     "FROM recipients"),
            "sent|2.0.0|555D8106188|h2.lab.test|2");
  EXPECT_EQ(QueryOne("SELECT count(*) FROM messages WHERE queue_id = '4C598106183'"), "2");
  EXPECT_EQ(
      QueryOne("SELECT concat_ws('|', removed, message_id) FROM messages ORDER BY id LIMIT 1"),
      "t|m1@example.org");
  EXPECT_EQ(QueryOne("SELECT concat_ws('|', origin, sender, removed) FROM messages "
                     "ORDER BY id DESC LIMIT 1"),
            "pickup|root@h1.lab.test|f");
}

TEST_F(IngestTest, StatsCountTrafficRejectsDelaysAndProblemsPerHostAndFleet) {
  auto lines = [](const std::string& h, const std::string& qid, const std::string& to,
                  const std::string& delay) {
    return std::vector<std::string>{
        fmt::format("Nov 29 02:57:40 {} postfix/smtpd[1]: {}: client=c.example[192.0.2.7]", h, qid),
        fmt::format("Nov 29 02:57:40 {} postfix/qmgr[3]: {}: from=<a@example.org>, size=1000, "
                    "nrcpt=1 (queue active)",
                    h, qid),
        fmt::format("Nov 29 02:57:41 {} postfix/smtp[4]: {}: to=<{}>, relay=r[198.18.0.12]:25, "
                    "delay={}, delays=0/0/0/0, dsn=2.0.0, status=sent (250 ok)",
                    h, qid, to, delay)};
  };
  auto h1 = lines("h1", "AAAA11111", "b@one.example", "1");
  auto more = lines("h1", "AAAA22222", "c@two.example", "3");
  h1.insert(h1.end(), more.begin(), more.end());
  h1.push_back(
      "Nov 29 02:57:42 h1 postfix/smtpd[1]: NOQUEUE: reject: RCPT from x.example[192.0.2.9]: "
      "554 5.7.1 <z@z.example>: Relay access denied; from=<s@x.example> to=<z@z.example> "
      "proto=ESMTP helo=<x>");
  h1.push_back(
      "Nov 29 02:57:43 h1 postfix/smtpd[1]: warning: unknown[192.0.2.10]: SASL LOGIN "
      "authentication failed: UGFzc3dvcmQ6");
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("a", 0, h1), now_).ok());
  ASSERT_TRUE(
      store_->IngestBatch("h2", Batch("b", 0, lines("h2", "BBBB11111", "b@one.example", "5")), now_)
          .ok());

  auto stats = store_->Stats({});
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->hosts_size(), 2);
  const auto& s1 = stats->hosts(0);
  EXPECT_EQ(s1.host(), "h1");
  EXPECT_EQ(s1.received(), 2u);
  EXPECT_EQ(s1.bytes_received(), 2000u);
  EXPECT_EQ(s1.delivered(), 2u);
  EXPECT_EQ(s1.forwarded(), 2u);
  EXPECT_EQ(s1.rejected(), 1u);
  EXPECT_EQ(s1.sasl_failures(), 1u);
  EXPECT_EQ(s1.warnings(), 1u);
  EXPECT_DOUBLE_EQ(s1.delay_max(), 3);
  ASSERT_EQ(s1.rejects_by_reason_size(), 1);
  EXPECT_EQ(s1.rejects_by_reason(0).key(), "554 5.7.1 Relay access denied");
  const auto& fleet = stats->fleet();
  EXPECT_EQ(fleet.received(), 3u);
  EXPECT_DOUBLE_EQ(fleet.delay_p50(), 3);
  ASSERT_GE(fleet.top_recipient_domains_size(), 1);
  EXPECT_EQ(fleet.top_recipient_domains(0).key(), "one.example");
  EXPECT_EQ(fleet.top_recipient_domains(0).count(), 2u);
  EXPECT_EQ(fleet.top_recipient_domains(0).bytes(), 2000u);
  ASSERT_GE(fleet.top_senders_size(), 1);
  EXPECT_EQ(fleet.top_senders(0).key(), "a@example.org");
  EXPECT_EQ(fleet.top_senders(0).count(), 3u);

  mailfleet::v1::StatsRequest only_h2;
  only_h2.add_hosts("h2");
  auto s2 = store_->Stats(only_h2);
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->fleet().received(), 1u);
}

// A content filter (amavis on 10024, back through a second smtpd on 10025), as in the
// pixelpark corpus: the message enters once and is delivered once, whatever the filter does.
// Rejects by a block list count as one reason, whichever client they hit.
TEST_F(IngestTest, StatsCountAContentFilteredMessageOnceAndBlockListRejectsAsOneReason) {
  std::vector<std::string> lines = {
      "Mar 14 00:08:33 h3 postfix/smtpd[297535]: 4PbC4x469Jz3tBr: "
      "client=mail.nistoresio.co.cz[185.31.160.120]",
      "Mar 14 00:08:33 h3 postfix/qmgr[1]: 4PbC4x469Jz3tBr: from=<s@nistoresio.co.cz>, "
      "size=5000, nrcpt=1 (queue active)",
      "Mar 14 00:08:35 h3 postfix/10025/smtpd[302614]: 4PbC4z6W5Qz3tG3: "
      "client=localhost[127.0.0.1]",
      "Mar 14 00:08:35 h3 postfix/qmgr[1]: 4PbC4z6W5Qz3tG3: from=<s@nistoresio.co.cz>, "
      "size=5600, nrcpt=1 (queue active)",
      "Mar 14 00:08:35 h3 postfix/amavis/smtp[302609]: 4PbC4x469Jz3tBr: "
      "to=<user01@uhu-banane.net>, orig_to=<frank@brehm-berlin.de>, "
      "relay=127.0.0.1[127.0.0.1]:10024, delay=2.4, delays=0.29/0.02/0.01/2.1, dsn=2.0.0, "
      "status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as "
      "4PbC4z6W5Qz3tG3)",
      "Mar 14 00:08:36 h3 postfix/pipe[9]: 4PbC4z6W5Qz3tG3: to=<user01@uhu-banane.net>, "
      "relay=dovecot, delay=0.5, delays=0.1/0/0/0.4, dsn=2.0.0, status=sent (delivered via "
      "dovecot service)",
      // Relayed on: the remote's "queued as" is not a queue id of this host.
      "Mar 14 00:09:01 h3 postfix/pickup[5]: 4PbC5X0Jzhz3tBr: uid=0 from=<root>",
      "Mar 14 00:09:01 h3 postfix/qmgr[1]: 4PbC5X0Jzhz3tBr: from=<root@h3.example>, size=700, "
      "nrcpt=1 (queue active)",
      "Mar 14 00:09:02 h3 postfix/smtp[7]: 4PbC5X0Jzhz3tBr: to=<x@gmx.de>, "
      "relay=mx01.emig.gmx.net[212.227.15.9]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, "
      "status=sent (250 2.0.0 Ok: queued as 4PbD000000z9xyZ)",
      "Mar 14 00:26:51 h3 postfix/postscreen[3163107]: NOQUEUE: reject: RCPT from "
      "[185.246.220.193]:62795: 550 5.7.1 Service unavailable; client [185.246.220.193] blocked "
      "using zen.spamhaus.org; from=<r@uhu-banane.de>, to=<z@hotmail.com>, proto=ESMTP, "
      "helo=<3BqSwxw>",
      "Mar 14 01:13:53 h3 postfix/postscreen[3163107]: NOQUEUE: reject: RCPT from "
      "[80.94.91.184]:25584: 550 5.7.1 Service unavailable; client [80.94.91.184] blocked using "
      "zen.spamhaus.org; from=<c@lighterhabitat.shop>, to=<user01@uhu-banane.net>, "
      "proto=ESMTP, helo=<lighterhabitat.shop>",
      "Mar 14 00:37:06 h3 postfix/smtpd[304356]: NOQUEUE: reject: RCPT from "
      "smtp.csp.res.in[117.244.254.50]: 450 4.1.8 <sabrina@S510.gigasys>: Sender address "
      "rejected: Domain not found; from=<sabrina@S510.gigasys> to=<user01@uhu-banane.net> "
      "proto=ESMTP helo=<galaxy.csp.res.in>",
  };
  ASSERT_TRUE(store_->IngestBatch("h3", Batch("c", 0, lines), now_).ok());
  auto stats = store_->Stats({});
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->hosts_size(), 1);
  const auto& s = stats->hosts(0);
  EXPECT_EQ(s.received(), 2u);  // the SMTP message and the pickup one; not the re-entry
  EXPECT_EQ(s.bytes_received(), 5700u);
  EXPECT_EQ(s.delivered(), 2u);  // to Dovecot and to gmx.de; not to the filter
  EXPECT_EQ(s.forwarded(), 1u);
  EXPECT_EQ(s.content_filtered(), 1u);
  EXPECT_DOUBLE_EQ(s.delay_max(), 1.2);  // the 2.4 s hand-off is not a delivery
  ASSERT_EQ(s.top_recipients_size(), 2);
  for (const auto& r : s.top_recipients()) EXPECT_EQ(r.count(), 1u) << r.key();
  ASSERT_EQ(s.top_senders_size(), 2);
  for (const auto& r : s.top_senders()) EXPECT_EQ(r.count(), 1u) << r.key();
  ASSERT_EQ(s.rejects_by_reason_size(), 2);
  EXPECT_EQ(s.rejects_by_reason(0).key(),
            "550 5.7.1 Service unavailable; client [*] blocked using zen.spamhaus.org");
  EXPECT_EQ(s.rejects_by_reason(0).count(), 2u);
  EXPECT_EQ(s.rejects_by_reason(1).key(), "450 4.1.8 Sender address rejected: Domain not found");
}

// h1 relays a message to h2 (its delivery "queued as" h2's queue id, where that id has a
// client= line from h1), and h2 delivers it to a mailbox. Each host counts what it did; the
// fleet counts the message once: received on h1, delivered on h2, one hop relayed.
TEST_F(IngestTest, StatsCountAMessageRelayedBetweenFleetHostsOnceForTheFleet) {
  std::vector<std::string> h1 = {
      "Nov 29 02:57:40 h1 postfix/smtpd[1]: 4C598106183: client=c.example[192.0.2.7]",
      "Nov 29 02:57:40 h1 postfix/qmgr[3]: 4C598106183: from=<a@example.org>, size=1000, "
      "nrcpt=1 (queue active)",
      "Nov 29 02:57:41 h1 postfix/smtp[4]: 4C598106183: to=<bob@h2.lab.test>, "
      "relay=h2.lab.test[198.18.0.12]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, "
      "status=sent (250 2.0.0 Ok: queued as 555D8106188)",
      // A message from outside the fleet that h1 sends out of it: counted as before.
      "Nov 29 02:57:50 h1 postfix/smtpd[1]: 4C598106190: client=d.example[192.0.2.8]",
      "Nov 29 02:57:50 h1 postfix/qmgr[3]: 4C598106190: from=<e@example.org>, size=300, "
      "nrcpt=1 (queue active)",
      "Nov 29 02:57:52 h1 postfix/smtp[4]: 4C598106190: to=<x@gmx.de>, "
      "relay=mx01.emig.gmx.net[212.227.15.9]:25, delay=2, delays=0.1/0/1/0.9, dsn=2.0.0, "
      "status=sent (250 2.0.0 Ok: queued as 4PbD000000z9xyZ)",
  };
  std::vector<std::string> h2 = {
      "Nov 29 02:57:41 h2 postfix/smtpd[7]: 555D8106188: client=h1.lab.test[198.18.0.11]",
      "Nov 29 02:57:41 h2 postfix/qmgr[8]: 555D8106188: from=<a@example.org>, size=1200, "
      "nrcpt=1 (queue active)",
      "Nov 29 02:57:42 h2 postfix/lmtp[9]: 555D8106188: to=<bob@h2.lab.test>, "
      "relay=h2.lab.test[private/dovecot-lmtp], delay=0.3, delays=0/0/0/0.3, dsn=2.0.0, "
      "status=sent (250 2.0.0 <bob@h2.lab.test> Saved)",
  };
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("a", 0, h1), now_).ok());
  ASSERT_TRUE(store_->IngestBatch("h2", Batch("b", 0, h2), now_).ok());
  auto stats = store_->Stats({});
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->hosts_size(), 2);
  EXPECT_EQ(stats->hosts(0).received(), 2u);
  EXPECT_EQ(stats->hosts(0).delivered(), 2u);
  EXPECT_EQ(stats->hosts(0).forwarded(), 2u);
  EXPECT_EQ(stats->hosts(1).received(), 1u);
  EXPECT_EQ(stats->hosts(1).delivered(), 1u);
  const auto& fleet = stats->fleet();
  EXPECT_EQ(fleet.relayed(), 1u);
  EXPECT_EQ(fleet.received(), 2u);  // not 3: the relayed message entered the fleet once
  EXPECT_EQ(fleet.bytes_received(), 1300u);
  EXPECT_EQ(fleet.delivered(), 2u);  // to bob's mailbox on h2 and to gmx.de; not h1 -> h2
  EXPECT_EQ(fleet.forwarded(), 1u);
  EXPECT_DOUBLE_EQ(fleet.delay_max(), 2);
  EXPECT_NEAR(fleet.delay_p50(), (2 + 0.3) / 2, 1e-6);  // delays are stored as real
  ASSERT_EQ(fleet.top_senders_size(), 2);
  for (const auto& s : fleet.top_senders()) EXPECT_EQ(s.count(), 1u) << s.key();
  ASSERT_EQ(fleet.top_recipients_size(), 2);
  for (const auto& r : fleet.top_recipients()) EXPECT_EQ(r.count(), 1u) << r.key();
  // h1's own list still has both of its senders, h2's its one.
  EXPECT_EQ(stats->hosts(0).top_senders_size(), 2);
  EXPECT_EQ(stats->hosts(1).top_senders_size(), 1);

  // Only h2 asked for: the hop from h1 is outside the report, so h2's message is new mail.
  mailfleet::v1::StatsRequest only_h2;
  only_h2.add_hosts("h2");
  auto s2 = store_->Stats(only_h2);
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->fleet().received(), 1u);
  EXPECT_EQ(s2->fleet().relayed(), 0u);
}

TEST_F(IngestTest, DayPartitionsAreMadeAndExpiredOnesDropped) {
  ASSERT_TRUE(store_->IngestBatch("h1", Batch("s", 0, Lines(1, 3)), now_).ok());
  EXPECT_NE(QueryOne("SELECT count(*) FROM pg_class WHERE relname ~ '^events_[0-9]{8}$'"), "0");
  auto dropped = store_->DropExpiredPartitions(now_ + std::chrono::hours(24 * 400));
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_GE(*dropped, 1);
  EXPECT_EQ(QueryOne("SELECT count(*) FROM pg_class WHERE relname ~ '^events_[0-9]{8}$'"), "0");
}

}  // namespace
}  // namespace mailfleet::collector
