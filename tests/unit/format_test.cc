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

}  // namespace
}  // namespace mailfleet::cli
