#include "collector/store/migrations.h"
#include "collector/store/pg_store.h"
#include "gtest/gtest.h"
#include "tests/integration/pg_test_support.h"

namespace mailfleet::collector {
namespace {

using std::chrono::seconds;

class StoreTest : public mailfleet::testing::FreshDatabaseTest {
 protected:
  std::unique_ptr<PgStore> Open() {
    auto store = PgStore::Create(conninfo(), {.stale_after = seconds(30)});
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  static mailfleet::v1::Inventory Inv(const std::string& postfix) {
    mailfleet::v1::Inventory inv;
    inv.set_hostname("mx1.example.net");
    inv.add_addresses("198.18.0.11");
    inv.set_postfix_version(postfix);
    inv.set_dovecot_version("2.3.19.1");
    return inv;
  }
  const TimePoint now_ = std::chrono::system_clock::now();
};

TEST_F(StoreTest, MigrationsApplyOnceAndASecondStartChangesNothing) {
  auto first = Open();
  ASSERT_NE(first, nullptr);
  auto version = first->SchemaVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, Migrations().back().version);
  std::string applied_at = QueryOne("SELECT max(applied_at)::text FROM schema_migrations");

  auto second = Open();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(*second->SchemaVersion(), *version);
  EXPECT_EQ(QueryOne("SELECT count(*) FROM schema_migrations"),
            std::to_string(Migrations().size()));
  EXPECT_EQ(QueryOne("SELECT max(applied_at)::text FROM schema_migrations"), applied_at);
}

TEST_F(StoreTest, SecondHelloUpdatesTheHostAndNeverDuplicatesIt) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Session s1{.host = "h1", .session_id = "a/1", .collector_id = "c1", .peer = "ipv4:198.18.0.11:1"};
  ASSERT_TRUE(store->RegisterHost(s1, Inv("3.7.10"), now_ - seconds(5)).ok());
  Session s2{.host = "h1", .session_id = "b/2", .collector_id = "c1", .peer = "ipv4:198.18.0.11:2"};
  ASSERT_TRUE(store->RegisterHost(s2, Inv("3.7.11"), now_).ok());

  auto hosts = store->ListHosts();
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  ASSERT_EQ(hosts->size(), 1u);
  const HostRecord& h = (*hosts)[0];
  EXPECT_EQ(h.name, "h1");
  EXPECT_EQ(h.inventory.postfix_version(), "3.7.11");
  EXPECT_EQ(h.inventory.hostname(), "mx1.example.net");
  EXPECT_TRUE(h.connected);
  EXPECT_EQ(h.peer, "ipv4:198.18.0.11:2");
  EXPECT_LT(h.first_seen, h.last_seen);
  EXPECT_EQ(QueryOne("SELECT count(*) FROM hosts"), "1");
}

TEST_F(StoreTest, AnOlderStreamEndingLeavesTheNewerOneConnected) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Session old_stream{.host = "h2", .session_id = "a/1", .collector_id = "c1", .peer = "p"};
  Session new_stream{.host = "h2", .session_id = "a/2", .collector_id = "c2", .peer = "p"};
  ASSERT_TRUE(store->RegisterHost(old_stream, Inv("3.7.11"), now_).ok());
  ASSERT_TRUE(store->RegisterHost(new_stream, Inv("3.7.11"), now_).ok());
  ASSERT_TRUE(store->MarkDisconnected(old_stream, now_).ok());
  EXPECT_TRUE(store->GetHost("h2")->connected);
  ASSERT_TRUE(store->MarkDisconnected(new_stream, now_).ok());
  EXPECT_FALSE(store->GetHost("h2")->connected);
}

TEST_F(StoreTest, AHostWithoutRecentHeartbeatsIsShownDisconnected) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Session s{.host = "h3", .session_id = "a/1", .collector_id = "c1", .peer = "p"};
  // Registered long ago and never heard from since: its collector may have died with -9.
  ASSERT_TRUE(store->RegisterHost(s, Inv("3.7.11"), now_ - seconds(300)).ok());
  EXPECT_FALSE(store->GetHost("h3")->connected);
  mailfleet::v1::Heartbeat beat;
  beat.add_sources()->set_lag_bytes(42);
  ASSERT_TRUE(store->TouchHost(s, now_, beat).ok());
  EXPECT_TRUE(store->GetHost("h3")->connected);
  EXPECT_EQ(store->GetHost("h3")->pipeline.sources(0).lag_bytes(), 42u);
}

TEST_F(StoreTest, UnknownHostIsNotFoundWithAHint) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto h = store->GetHost("nope");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(h.status().message().find("mailfleet hosts"), std::string::npos);
}

TEST(StoreConnectTest, UnreachableServerIsUnavailableWithTheAddress) {
  auto store = PgStore::Create("host=/nonexistent-mailfleet-socket dbname=x user=y", {});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(store.status().message().find("/nonexistent-mailfleet-socket"), std::string::npos);
}

TEST(RedactTest, PasswordsNeverReachLogs) {
  EXPECT_EQ(RedactConninfo("postgresql://mf:s3cret@db.example:5432/mailfleet"),
            "postgresql://mf:***@db.example:5432/mailfleet");
  EXPECT_EQ(RedactConninfo("host=db password=s3cret dbname=x"), "host=db password=*** dbname=x");
}

}  // namespace
}  // namespace mailfleet::collector
