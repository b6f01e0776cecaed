#include "agent/uplink/backoff.h"

#include <set>

#include "agent/uplink/uplink.h"
#include "gtest/gtest.h"

namespace mailfleet::agent {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DoublesWithinJitterBoundsUpToTheCap) {
  Backoff backoff(milliseconds(500), milliseconds(30'000), 42);
  int64_t base = 500;
  for (int i = 0; i < 20; ++i) {
    int64_t d = backoff.Next().count();
    EXPECT_GE(d, base / 2) << "attempt " << i;
    EXPECT_LE(d, base) << "attempt " << i;
    base = std::min<int64_t>(base * 2, 30'000);
  }
}

TEST(BackoffTest, NeverExceedsTheCapEvenAfterManyAttempts) {
  Backoff backoff(milliseconds(100), milliseconds(30'000), 7);
  for (int i = 0; i < 1000; ++i) EXPECT_LE(backoff.Next().count(), 30'000);
}

TEST(BackoffTest, ResetStartsOverAtTheInitialDelay) {
  Backoff backoff(milliseconds(1000), milliseconds(30'000), 1);
  for (int i = 0; i < 10; ++i) backoff.Next();
  backoff.Reset();
  EXPECT_LE(backoff.Next().count(), 1000);
}

TEST(BackoffTest, AgentsWithDifferentSeedsSpreadOut) {
  // A fleet reconnecting after a collector restart must not dial in lockstep.
  std::set<int64_t> first_delays;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Backoff backoff(milliseconds(8000), milliseconds(30'000), seed);
    first_delays.insert(backoff.Next().count());
  }
  EXPECT_GT(first_delays.size(), 40u);
}

// The linger between send rounds: short under load, long for a trickle, never out of bounds.
TEST(LingerTest, AdaptsToTheLineRateWithinItsBounds) {
  UplinkOptions o;  // 50..250 ms, about 500 lines a round
  // 10k lines/s: 500 lines in 50 ms; the linger stays at its minimum.
  EXPECT_EQ(AdaptLinger(milliseconds(50), 500, o), milliseconds(50));
  EXPECT_EQ(AdaptLinger(milliseconds(50), 5000, o), milliseconds(50));
  // 1k lines/s: 50 lines in 50 ms, then 250 in 250 ms; it settles at the maximum.
  EXPECT_EQ(AdaptLinger(milliseconds(50), 50, o), milliseconds(250));
  EXPECT_EQ(AdaptLinger(milliseconds(250), 250, o), milliseconds(250));
  // 4k lines/s: 200 lines in 50 ms, then 500 in 125 ms.
  EXPECT_EQ(AdaptLinger(milliseconds(50), 200, o), milliseconds(125));
  EXPECT_EQ(AdaptLinger(milliseconds(125), 500, o), milliseconds(125));
  // A burst after a trickle: short again at once.
  EXPECT_EQ(AdaptLinger(milliseconds(250), 2000, o), milliseconds(62));
  EXPECT_EQ(AdaptLinger(milliseconds(250), 20000, o), milliseconds(50));
  // Nothing sent: unchanged. A maximum below the minimum: the minimum.
  EXPECT_EQ(AdaptLinger(milliseconds(80), 0, o), milliseconds(80));
  o.max_linger = milliseconds(10);
  EXPECT_EQ(AdaptLinger(milliseconds(50), 1, o), milliseconds(50));
}

}  // namespace
}  // namespace mailfleet::agent
