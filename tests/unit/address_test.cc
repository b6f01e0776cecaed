#include "common/address.h"

#include "gtest/gtest.h"

namespace mailfleet {
namespace {

TEST(AddressTest, ParsesHostPortForms) {
  auto v4 = ParseHostPort("198.18.0.1:7443");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->host, "198.18.0.1");
  EXPECT_EQ(v4->port, 7443);
  auto v6 = ParseHostPort("[::1]:25");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 25);
  auto name = ParseHostPort("collector.lab.test:0");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->port, 0);
}

TEST(AddressTest, RejectsMalformedAddressesWithAHint) {
  for (const char* bad :
       {"", "7443", "host:", ":7443", "host:port", "host:70000", "::1:25", "[::1]25", "host:-1"}) {
    auto parsed = ParseHostPort(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_NE(parsed.status().message().find(":PORT"), std::string::npos) << parsed.status();
    }
  }
}

TEST(AddressTest, LoopbackIsOnly127AndColonColon1) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.9.9.9"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_TRUE(IsLoopbackHost("unix:/run/mailfleet.sock"));
  EXPECT_FALSE(IsLoopbackHost("198.18.0.1"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("localhost.example.com"));
  EXPECT_FALSE(IsLoopbackHost("128.0.0.1"));
}

}  // namespace
}  // namespace mailfleet
