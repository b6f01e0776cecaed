#include "cli/format.h"

#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace mailfleet::cli {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

TEST(FormatTest, TableColumnsAlignToTheWidestCell) {
  EXPECT_EQ(FormatTable({{"NAME", "STATE"}, {"h1", "connected"}, {"long-name", "x"}}),
            "NAME       STATE\n"
            "h1         connected\n"
            "long-name  x\n");
}

TEST(FormatTest, AgoReadsLikeAPersonWouldSayIt) {
  auto now = system_clock::time_point(seconds(1'800'000'000));
  EXPECT_EQ(Ago(now, now), "just now");
  EXPECT_EQ(Ago(now - seconds(42), now), "42s ago");
  EXPECT_EQ(Ago(now - seconds(300), now), "5m ago");
  EXPECT_EQ(Ago(now - seconds(3 * 3600), now), "3h ago");
  EXPECT_EQ(Ago(now - seconds(3 * 86400), now), "3d ago");
  EXPECT_EQ(Ago(system_clock::time_point(), now), "never");
}

TEST(FormatTest, HostsTableShowsVersionsStateAndDashesForUnknowns) {
  google::protobuf::RepeatedPtrField<mailfleet::v1::Host> hosts;
  auto now = system_clock::time_point(seconds(1'800'000'000));
  auto* h1 = hosts.Add();
  h1->set_name("h1");
  h1->set_connected(true);
  h1->mutable_inventory()->add_addresses("198.18.0.11");
  h1->mutable_inventory()->set_postfix_version("3.7.11");
  h1->mutable_inventory()->set_dovecot_version("2.3.19.1");
  h1->mutable_pipeline()->add_sources()->set_lag_bytes(0);
  *h1->mutable_last_seen() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(1'800'000'000 - 5);
  auto* h2 = hosts.Add();
  h2->set_name("h2");
  *h2->mutable_last_seen() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(1'800'000'000 - 600);
  EXPECT_EQ(FormatHostsTable(hosts, now),
            "NAME  ADDRESSES    POSTFIX  DOVECOT   STATE         LAST SEEN  LOG LAG\n"
            "h1    198.18.0.11  3.7.11   2.3.19.1  connected     5s ago     none\n"
            "h2    -            -        -         disconnected  10m ago    -\n");
}

TEST(FormatTest, LogLagSumsBytesAndTakesTheLongestDelay) {
  mailfleet::v1::Heartbeat p;
  EXPECT_EQ(LogLag(p), "-");
  auto* a = p.add_sources();
  a->set_lag_bytes(1024);
  a->set_lag_seconds(3);
  auto* b = p.add_sources();
  b->set_lag_bytes(512);
  b->set_lag_seconds(9);
  EXPECT_EQ(LogLag(p), "1.5 KiB, 9s");
  EXPECT_EQ(Bytes(3 << 20), "3.0 MiB");
}

TEST(FormatTest, JsonKeepsProtoFieldNamesAndDefaults) {
  mailfleet::v1::Host host;
  host.set_name("h1");
  std::string json = ToJson(host);
  EXPECT_NE(json.find("\"name\":\"h1\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"connected\":false"), std::string::npos) << json;
  EXPECT_NE(json.find("\"collector_id\""), std::string::npos) << json;
}

TEST(FormatTest, StoredEventJsonHasTypedNumbersArraysAndFlags) {
  mailfleet::v1::StoredEvent e;
  e.set_id(145);
  e.set_host("h1");
  *e.mutable_time() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1'800'000'000);
  e.set_kind("delivery");
  e.set_severity("info");
  e.set_raw("Nov 29 ... status=sent (250 ok \"quoted\")");
  auto& f = *e.mutable_fields();
  f["pid"] = "23347";
  f["relay_port"] = "25";
  f["delay"] = "0.01";
  f["delays"] = "{0,0.5,NULL,1e-05}";
  f["recipient"] = "bob@h3.lab.test";
  f["queue_id"] = "0123";  // text, though it looks like a number
  f["size"] = "NaN";       // not a JSON number: kept as a string
  f["truncated"] = "true";
  EXPECT_EQ(StoredEventJson(e),
            "{\"id\":145,\"host\":\"h1\",\"time\":\"2027-01-15T08:00:00Z\",\"kind\":\"delivery\","
            "\"severity\":\"info\",\"delay\":0.01,\"delays\":[0,0.5,null,1e-05],\"pid\":23347,"
            "\"queue_id\":\"0123\",\"recipient\":\"bob@h3.lab.test\",\"relay_port\":25,"
            "\"size\":\"NaN\",\"truncated\":true,"
            "\"raw\":\"Nov 29 ... status=sent (250 ok \\\"quoted\\\")\"}");
  // A malformed array stays a string rather than becoming broken JSON.
  f["delays"] = "{0,abc}";
  EXPECT_NE(StoredEventJson(e).find("\"delays\":\"{0,abc}\""), std::string::npos);
}

}  // namespace
}  // namespace mailfleet::cli
