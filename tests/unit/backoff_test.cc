#include "agent/uplink/backoff.h"

#include <set>

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

}  // namespace
}  // namespace mailfleet::agent
