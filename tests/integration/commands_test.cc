// The command path through PostgreSQL (DESIGN.md "Scale and availability"): commands and
// their targets as the audit log, claims by replicas, results, rollout waves, expiry, and
// the notifications that wake every replica.
#include <atomic>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "collector/store/pg_store.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/pg_test_support.h"

namespace mailfleet::collector {
namespace {

using std::chrono::seconds;

class CommandsTest : public mailfleet::testing::FreshDatabaseTest {
 protected:
  void SetUp() override {
    FreshDatabaseTest::SetUp();
    if (HasFatalFailure()) return;
    auto store = PgStore::Create(conninfo(), {.stale_after = seconds(30), .pool_size = 4});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    FreshDatabaseTest::TearDown();
  }

  // queue.hold of mail to example.com; targets as (host, wave, state).
  int64_t Create(std::vector<NewCommand::Target> targets, TimePoint queued_until = {}) {
    NewCommand c;
    c.requested_by = "alice (CN=ops)";
    c.risk = "change";
    c.collector_id = "c1";
    c.request.set_action("queue.hold");
    c.request.mutable_filter()->set_to("example.com");
    c.targets = std::move(targets);
    c.timeout = seconds(30);
    c.queued_until = queued_until == TimePoint{} ? now_ + seconds(3600) : queued_until;
    auto id = store_->CreateCommand(c, now_);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : 0;
  }

  std::map<std::string, std::string> States(int64_t id) {
    std::map<std::string, std::string> out;
    auto targets = store_->CommandTargets(id);
    EXPECT_TRUE(targets.ok()) << targets.status();
    for (const auto& t : *targets) out[t.host()] = t.status();
    return out;
  }

  static mailfleet::v1::CommandResult Result(int64_t id, const std::string& status) {
    mailfleet::v1::CommandResult r;
    r.set_command_id(std::to_string(id));
    r.set_status(status);
    r.set_final(true);
    r.mutable_result()->set_changed(3);
    r.mutable_result()->set_summary("3 of 3 matching messages put on hold");
    return r;
  }

  std::unique_ptr<PgStore> store_;
  const TimePoint now_ = std::chrono::system_clock::now();
};

TEST_F(CommandsTest, RecordedWithTargetsClaimedOnceAndSettledByTheResult) {
  int64_t id = Create({{"h1", 0, "pending"}, {"h2", 0, "pending"}, {"h3", -1, "offline"}});
  ASSERT_GT(id, 0);
  EXPECT_EQ(States(id), (std::map<std::string, std::string>{
                            {"h1", "pending"}, {"h2", "pending"}, {"h3", "offline"}}));
  // The replica holding h1 claims h1's target only; what it receives is the command itself.
  auto claimed = store_->ClaimCommands({"h1"}, "c1", now_);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].host, "h1");
  EXPECT_EQ((*claimed)[0].command.action(), "queue.hold");
  EXPECT_EQ((*claimed)[0].command.filter().to(), "example.com");
  EXPECT_EQ((*claimed)[0].command.timeout_seconds(), 30u);
  EXPECT_EQ((*claimed)[0].command.requested_by(), "alice (CN=ops)");
  EXPECT_TRUE(store_->ClaimCommands({"h1"}, "c1", now_)->empty()) << "claimed twice";

  // A result from another host does not settle h1's target.
  ASSERT_TRUE(store_->RecordResult("h2", Result(id, "ok"), now_).ok());
  EXPECT_EQ(States(id)["h2"], "pending");
  ASSERT_TRUE(store_->RecordResult("h1", Result(id, "ok"), now_ + seconds(1)).ok());
  auto targets = store_->CommandTargets(id);
  ASSERT_TRUE(targets.ok());
  EXPECT_EQ((*targets)[0].status(), "ok");
  EXPECT_EQ((*targets)[0].result().changed(), 3u);
  EXPECT_EQ((*targets)[0].duration_ms(), 1000u);
  EXPECT_NE((*targets)[2].error().find("offline"), std::string::npos);
  // A result for no command id at all is an error, not a crash.
  mailfleet::v1::CommandResult bogus;
  bogus.set_command_id("not-a-number");
  EXPECT_FALSE(store_->RecordResult("h1", bogus, now_).ok());
}

TEST_F(CommandsTest, TwoReplicasClaimingAtOnceNeverBothTakeATarget) {
  std::vector<NewCommand::Target> targets;
  std::vector<std::string> hosts;
  for (int i = 0; i < 40; ++i) {
    hosts.push_back("h" + std::to_string(i));
    targets.push_back({hosts.back(), 0, "pending"});
  }
  for (int c = 0; c < 5; ++c) Create(targets);
  absl::Mutex mu;
  std::multiset<std::string> taken;
  auto replica = [&](const std::string& name) {
    for (int round = 0; round < 5; ++round) {
      auto claimed = store_->ClaimCommands(hosts, name, now_);
      ASSERT_TRUE(claimed.ok()) << claimed.status();
      absl::MutexLock lock(&mu);
      for (const auto& c : *claimed) taken.insert(fmt::format("{}/{}", c.command_id, c.host));
    }
  };
  std::thread a(replica, "c1"), b(replica, "c2");
  a.join();
  b.join();
  EXPECT_EQ(taken.size(), 200u);
  EXPECT_EQ(std::set<std::string>(taken.begin(), taken.end()).size(), 200u);
  EXPECT_EQ(QueryOne("SELECT count(DISTINCT sent_by) > 0 FROM command_targets"), "t");
}

TEST_F(CommandsTest, WavesWaitUntilStartedAndASettledRolloutSkipsTheRest) {
  int64_t id = Create({{"h1", 0, "pending"}, {"h2", 1, "waiting"}, {"h3", 2, "waiting"}});
  EXPECT_EQ(store_->ClaimCommands({"h1", "h2", "h3"}, "c1", now_)->size(), 1u);
  ASSERT_TRUE(store_->StartWave(id, 1).ok());
  auto second = store_->ClaimCommands({"h1", "h2", "h3"}, "c1", now_);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].host, "h2");
  ASSERT_TRUE(store_->SettleTargets(id, {"waiting"}, "skipped", "the rollout stopped", now_).ok());
  EXPECT_EQ(States(id), (std::map<std::string, std::string>{
                            {"h1", "sent"}, {"h2", "sent"}, {"h3", "skipped"}}));
}

TEST_F(CommandsTest, QueuedTargetsWaitForTheirHostUntilTheyExpire) {
  int64_t kept = Create({{"h1", -1, "queued"}});
  int64_t expiring = Create({{"h2", -1, "queued"}}, now_ + seconds(10));
  // Given back after a claim (the stream ended first), a queued target is queued again.
  auto claimed = store_->ClaimCommands({"h1"}, "c1", now_);
  ASSERT_EQ(claimed->size(), 1u);
  ASSERT_TRUE(store_->Unclaim(kept, "h1").ok());
  EXPECT_EQ(States(kept)["h1"], "queued");
  ASSERT_TRUE(store_->ExpireCommands(now_ + seconds(11)).ok());
  EXPECT_EQ(States(expiring)["h2"], "expired");
  EXPECT_EQ(States(kept)["h1"], "queued");
  EXPECT_TRUE(store_->ClaimCommands({"h2"}, "c1", now_ + seconds(11))->empty());
}

TEST_F(CommandsTest, ASentTargetWithoutAResultTimesOutAndALateResultStillCounts) {
  int64_t id = Create({{"h1", 0, "pending"}});
  ASSERT_EQ(store_->ClaimCommands({"h1"}, "c1", now_)->size(), 1u);
  ASSERT_TRUE(store_->ExpireCommands(now_ + seconds(59)).ok());
  EXPECT_EQ(States(id)["h1"], "sent");
  ASSERT_TRUE(store_->ExpireCommands(now_ + seconds(61)).ok());  // 30 s timeout + 30 s grace
  EXPECT_EQ(States(id)["h1"], "timeout");
  ASSERT_TRUE(store_->RecordResult("h1", Result(id, "ok"), now_ + seconds(62)).ok());
  EXPECT_EQ(States(id)["h1"], "ok");
}

TEST_F(CommandsTest, AuditFiltersByHostActionFamilyAndId) {
  int64_t first = Create({{"h1", 0, "pending"}});
  int64_t second = Create({{"h2", 0, "pending"}});
  auto all = store_->Audit({});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->entries_size(), 2);
  EXPECT_EQ(all->entries(0).command_id(), second);  // newest first
  EXPECT_EQ(all->entries(0).requested_by(), "alice (CN=ops)");
  EXPECT_EQ(all->entries(0).request().filter().to(), "example.com");
  mailfleet::v1::AuditRequest by_host;
  by_host.add_hosts("h1");
  EXPECT_EQ(store_->Audit(by_host)->entries(0).command_id(), first);
  EXPECT_EQ(store_->Audit(by_host)->entries_size(), 1);
  mailfleet::v1::AuditRequest family;
  family.set_action("queue.");
  EXPECT_EQ(store_->Audit(family)->entries_size(), 2);
  family.set_action("queue");  // not a family without its dot, and no such action
  EXPECT_EQ(store_->Audit(family)->entries_size(), 0);
  mailfleet::v1::AuditRequest one;
  one.set_command_id(first);
  ASSERT_EQ(store_->Audit(one)->entries_size(), 1);
  EXPECT_EQ(store_->Audit(one)->entries(0).results(0).host(), "h1");
}

TEST_F(CommandsTest, NotificationsReachEveryListener) {
  absl::Mutex mu;
  std::vector<std::string> heard;
  std::vector<std::unique_ptr<Subscription>> listeners;
  for (int i = 0; i < 2; ++i) {
    auto sub = store_->Listen({kCommandsChannel, kResultsChannel},
                              [&, i](const std::string& channel, const std::string& payload) {
                                if (payload.empty()) return;  // the (re)connect call
                                absl::MutexLock lock(&mu);
                                heard.push_back(fmt::format("{}:{}:{}", i, channel, payload));
                              });
    ASSERT_TRUE(sub.ok()) << sub.status();
    listeners.push_back(std::move(*sub));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // both LISTENing
  int64_t id = Create({{"h1", 0, "pending"}});
  ASSERT_EQ(store_->ClaimCommands({"h1"}, "c1", now_)->size(), 1u);
  ASSERT_TRUE(store_->RecordResult("h1", Result(id, "ok"), now_).ok());
  struct Args {
    std::vector<std::string>* heard;
    std::string want;
  } args{&heard, fmt::format(":{}:{}", kResultsChannel, id)};
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(
                                      +[](Args* a) {
                                        int results = 0;
                                        for (const auto& h : *a->heard) {
                                          results += h.ends_with(a->want);
                                        }
                                        return results == 2;
                                      },
                                      &args),
                                  absl::Seconds(5)))
      << "heard: " << heard.size();
}

}  // namespace
}  // namespace mailfleet::collector
