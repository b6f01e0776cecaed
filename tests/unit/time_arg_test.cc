#include "cli/time_arg.h"

#include <chrono>

#include "gtest/gtest.h"

namespace mailfleet::cli {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

// 2026-11-29T12:00:00Z
const system_clock::time_point kNow{seconds(1'795'953'600)};

int64_t Unix(const absl::StatusOr<system_clock::time_point>& t) {
  return std::chrono::duration_cast<seconds>(t->time_since_epoch()).count();
}

TEST(TimeArgTest, Durations) {
  EXPECT_EQ(ParseDurationArg("90s"), seconds(90));
  EXPECT_EQ(ParseDurationArg("15m"), seconds(900));
  EXPECT_EQ(ParseDurationArg("2h"), seconds(7200));
  EXPECT_EQ(ParseDurationArg("3d"), seconds(3 * 86400));
  EXPECT_EQ(ParseDurationArg("1w"), seconds(7 * 86400));
  for (const char* bad : {"", "h", "5", "5x", "-5m", "1.5h", "5 m", "99999999999999w"}) {
    EXPECT_FALSE(ParseDurationArg(bad).has_value()) << bad;
  }
  EXPECT_EQ(Unix(ParseTimeArg("2h", kNow)), 1'795'953'600 - 7200);
}

TEST(TimeArgTest, AbsoluteForms) {
  EXPECT_EQ(Unix(ParseTimeArg("2026-11-29", kNow)), 1'795'910'400);
  EXPECT_EQ(Unix(ParseTimeArg("2026-11-29T08:00", kNow)), 1'795'910'400 + 8 * 3600);
  EXPECT_EQ(Unix(ParseTimeArg("2026-11-29 08:00:00Z", kNow)), 1'795'910'400 + 8 * 3600);
  EXPECT_EQ(Unix(ParseTimeArg("2026-11-29T08:00:00+01:00", kNow)), 1'795'910'400 + 7 * 3600);
  EXPECT_EQ(Unix(ParseTimeArg("2028-02-29", kNow)), 1'835'395'200);  // a leap day
}

TEST(TimeArgTest, ImpossibleDatesAndTimesAreRefused) {
  for (const char* bad :
       {"2026-13-01", "2026-00-10", "2026-02-29", "2026-04-31", "2026-11-00", "2026-11-29T24:00",
        "2026-11-29T08:60", "2026-11-29 08:00:61", "yesterday", "", "29.11.2026", "2026-11-29T8"}) {
    auto t = ParseTimeArg(bad, kNow);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_NE(t.status().message().find("is not a time"), std::string::npos);
  }
}

TEST(TimeArgTest, SetTimeRangeFillsEitherBound) {
  struct Request {
    struct Ts {
      int64_t s = 0;
      int32_t n = 0;
      void set_seconds(int64_t v) { s = v; }
      void set_nanos(int32_t v) { n = v; }
    } since, until;
    Ts* mutable_since() { return &since; }
    Ts* mutable_until() { return &until; }
  } request;
  ASSERT_TRUE(SetTimeRange("1h", "", kNow, &request).ok());
  EXPECT_EQ(request.since.s, 1'795'953'600 - 3600);
  EXPECT_EQ(request.until.s, 0);
  EXPECT_FALSE(SetTimeRange("1h", "2026-13-01", kNow, &request).ok());
}

}  // namespace
}  // namespace mailfleet::cli
