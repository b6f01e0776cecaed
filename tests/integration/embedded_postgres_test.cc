// The embedded default: a private cluster made with the system's initdb and pg_ctl.
#include "collector/store/embedded_postgres.h"

#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "collector/store/pg_store.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"

namespace mailfleet::collector {
namespace {

std::string Setting(const std::string& conninfo, const std::string& name) {
  pqxx::connection c(conninfo);
  pqxx::nontransaction tx(c);
  return tx.exec1("SHOW " + name)[0].as<std::string>();
}

TEST(EmbeddedPostgresTest, SurvivesACollectorRestartWithItsData) {
  // Under /tmp (mode 1777), so the unprivileged database user can reach it.
  std::string dir = "/tmp/mailfleet-embedded-test-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  RealProcessRunner runner;
  Session session{.host = "h1", .session_id = "s/1", .collector_id = "c", .peer = "p"};
  {
    auto pg = EmbeddedPostgres::Start({.data_dir = dir}, runner);
    ASSERT_TRUE(pg.ok()) << pg.status();
    auto store = PgStore::Create((*pg)->conninfo(), {});
    ASSERT_TRUE(store.ok()) << store.status();
    mailfleet::v1::Inventory inv;
    inv.set_postfix_version("3.7.11");
    ASSERT_TRUE((*store)->RegisterHost(session, inv, std::chrono::system_clock::now()).ok());
    EXPECT_TRUE(std::filesystem::exists(dir + "/postgres/PG_VERSION"));
    // No TCP port: the socket lives in the cluster folder.
    EXPECT_TRUE(std::filesystem::exists(dir + "/postgres/.s.PGSQL.5432"));
    // A second collector on the same folder waits for this one, then gives up.
    auto second = EmbeddedPostgres::Start(
        {.data_dir = dir, .lock_wait = std::chrono::milliseconds(300)}, runner);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(second.status().message().find(fmt::format("(pid {})", getpid())), std::string::npos)
        << second.status();
    // ... and left the first one's server alone.
    EXPECT_TRUE((*store)->GetHost("h1").ok());
    // The settings for a write-heavy store are in force.
    EXPECT_EQ(Setting((*pg)->conninfo(), "shared_buffers"), "256MB");
    EXPECT_EQ(Setting((*pg)->conninfo(), "wal_buffers"), "16MB");
  }  // store closed, then the server stopped
  EXPECT_FALSE(std::filesystem::exists(dir + "/postgres/postmaster.pid"));
  {
    // A cluster made by an earlier collector, without the settings: it gets them now.
    std::string conf_path = dir + "/postgres/postgresql.conf";
    std::ifstream in(conf_path);
    std::string conf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    size_t include = conf.find("include_if_exists = 'mailfleet.conf'");
    ASSERT_NE(include, std::string::npos);
    conf.erase(include, conf.find('\n', include) - include);
    std::ofstream(conf_path, std::ios::trunc) << conf;
    std::filesystem::remove(dir + "/postgres/mailfleet.conf");

    auto pg = EmbeddedPostgres::Start({.data_dir = dir}, runner);
    ASSERT_TRUE(pg.ok()) << pg.status();
    EXPECT_EQ(Setting((*pg)->conninfo(), "wal_buffers"), "16MB");
    auto store = PgStore::Create((*pg)->conninfo(), {});
    ASSERT_TRUE(store.ok()) << store.status();
    auto host = (*store)->GetHost("h1");
    ASSERT_TRUE(host.ok()) << host.status();
    EXPECT_EQ(host->inventory.postfix_version(), "3.7.11");
  }
  std::filesystem::remove_all(dir);
}

TEST(EmbeddedPostgresTest, AServerThatDiesIsStartedAgain) {
  std::string dir = "/tmp/mailfleet-embedded-watch-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  RealProcessRunner runner;
  {
    auto pg = EmbeddedPostgres::Start({.data_dir = dir}, runner);
    ASSERT_TRUE(pg.ok()) << pg.status();
    auto store = PgStore::Create((*pg)->conninfo(), {});
    ASSERT_TRUE(store.ok()) << store.status();
    std::ifstream pid_file(dir + "/postgres/postmaster.pid");
    pid_t postmaster = 0;
    ASSERT_TRUE(pid_file >> postmaster);
    ASSERT_EQ(kill(postmaster, SIGKILL), 0);
    // The store's queries fail until the watchdog has the server back.
    bool back = false;
    for (int i = 0; i < 300 && !back; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      back = (*store)->ListHosts().ok();
    }
    EXPECT_TRUE(back) << "the embedded server did not come back within 30 s";
    std::ifstream again(dir + "/postgres/postmaster.pid");
    pid_t restarted = 0;
    ASSERT_TRUE(again >> restarted);
    EXPECT_NE(restarted, postmaster);
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/postgres/postmaster.pid"));
  std::filesystem::remove_all(dir);
}

TEST(EmbeddedPostgresTest, AnUnreachableDataDirIsExplained) {
  if (geteuid() != 0) GTEST_SKIP() << "only root hands the cluster to another user";
  std::string parent = "/tmp/mailfleet-embedded-closed-" + std::to_string(getpid());
  std::filesystem::create_directories(parent);
  chmod(parent.c_str(), 0700);
  RealProcessRunner runner;
  auto pg = EmbeddedPostgres::Start({.data_dir = parent + "/data"}, runner);
  std::filesystem::remove_all(parent);
  ASSERT_FALSE(pg.ok());
  EXPECT_EQ(pg.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(pg.status().message().find("chmod o+x " + parent), std::string::npos) << pg.status();
}

TEST(EmbeddedPostgresTest, AMissingRunAsUserIsExplained) {
  if (geteuid() != 0) GTEST_SKIP() << "the run-as user matters only for root";
  RealProcessRunner runner;
  auto pg = EmbeddedPostgres::Start(
      {.data_dir = "/tmp/mailfleet-nouser", .run_as = "mailfleet-no-such-user"}, runner);
  ASSERT_FALSE(pg.ok());
  EXPECT_NE(pg.status().message().find("mailfleet-no-such-user"), std::string::npos);
}

TEST(EmbeddedPostgresTest, MissingServerBinariesSayWhatToInstall) {
  RealProcessRunner runner;
  auto pg = EmbeddedPostgres::Start(
      {.data_dir = "/tmp/mailfleet-nobin", .bin_dir = "/nonexistent/bin"}, runner);
  ASSERT_FALSE(pg.ok());
  EXPECT_NE(pg.status().message().find("pg_ctl"), std::string::npos);
}

}  // namespace
}  // namespace mailfleet::collector
