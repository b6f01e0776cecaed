// Configuration and recovery actions on the agent: snapshots, restore to a postconf -n text,
// the emergency configuration and temporary debug logging that ends by itself; and the CLI's
// configuration diff. Fake process runner and clock; state in a temporary folder.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agent/exec/action_runner.h"
#include "cli/config_command.h"
#include "common/actions/actions.h"
#include "common/clock.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_process_runner.h"

namespace mailfleet {
namespace {

using mailfleet::testing::FakeProcessRunner;
using mailfleet::v1::Command;
using mailfleet::v1::CommandResult;
using Argv = std::vector<std::string>;

class SettableClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override { return now_; }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::time_point(now_.time_since_epoch());
  }
  void Advance(std::chrono::seconds s) { now_ += s; }

 private:
  std::chrono::system_clock::time_point now_{std::chrono::seconds(1'700'000'000)};
};

constexpr char kPostconfN[] =
    "alias_database =\ninet_interfaces = all\nmydestination = localhost\n"
    "myhostname = h1.lab.test\n";

class ConfigActionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mailfleet-config-actions-XXXXXX";
    dir_ = mkdtemp(tmpl);
    options_.state_dir = dir_ + "/state";
    options_.dovecot_config = dir_ + "/dovecot.conf";
    std::filesystem::create_directories(options_.state_dir);
    ASSERT_TRUE(WriteFileAtomically(options_.dovecot_config, "protocols = imap lmtp\n").ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Argv Postfix(std::vector<std::string> args) {
    Argv argv = {args[0], "-c", "/etc/pf2"};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return argv;
  }
  void Ok(Argv argv, std::string out = "") {
    runner_.Answer(std::move(argv), {.exit_code = 0, .out = std::move(out)});
  }
  CommandResult Run(std::string action, std::map<std::string, std::string> params = {},
                    bool dry_run = false) {
    Command c;
    c.set_command_id("7");
    c.set_action(std::move(action));
    for (const auto& [k, v] : params) (*c.mutable_params())[k] = v;
    c.set_dry_run(dry_run);
    agent::ActionRunner actions(runner_, clock_, options_);
    return actions.Run(c);
  }

  std::string dir_;
  FakeProcessRunner runner_;
  SettableClock clock_;
  agent::ActionRunnerOptions options_{.postfix_config_dir = "/etc/pf2"};
};

TEST(PostconfNTest, ReadsNameValueLinesIncludingEmptyValues) {
  auto parsed = actions::ParsePostconfN(kPostconfN);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 4u);
  EXPECT_EQ((*parsed)[0], (std::pair<std::string, std::string>{"alias_database", ""}));
  EXPECT_EQ((*parsed)[3], (std::pair<std::string, std::string>{"myhostname", "h1.lab.test"}));
}

TEST(PostconfNTest, RefusesWhatIsNotPostconfOutput) {
  for (const char* bad : {"just words\n", "= value\n", "na me = x\n", "-e = x\n", "a = b\x01\n",
                          "inet_interfaces=all\n"}) {
    auto parsed = actions::ParsePostconfN(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
  }
  EXPECT_FALSE(actions::ValidatePostconfText("").ok());
  std::map<std::string, std::string> params = {{"postconf_n", "x"}};
  actions::Params p(params.begin(), params.end());
  auto risk = actions::ValidateCommand("config.restore", p, {});
  ASSERT_FALSE(risk.ok());
  EXPECT_NE(risk.status().message().find("not 'name = value'"), std::string::npos);
}

TEST_F(ConfigActionsTest, RestoreSetsChangedRemovesExtraAndChecksByteForByte) {
  std::string now =
      "inet_interfaces = loopback-only\nmydestination = localhost\n"
      "myhostname = h1.lab.test\nrelayhost = [198.18.0.254]:25\n";
  // postconf -n answers the current text first; after the changes, the wanted one. The fake
  // answers one text per argv, so the check sees the restored file.
  Ok(Postfix({"postconf", "-n"}), kPostconfN);
  Ok(Postfix({"postconf", "-X", "relayhost"}));
  Ok(Postfix({"postconf", "-e", "alias_database = ", "inet_interfaces = all"}));
  Ok(Postfix({"postfix", "check"}));
  Ok(Postfix({"postfix", "reload"}));
  // Dry run first: commands listed, none run but the listing.
  runner_.Answer(Postfix({"postconf", "-n"}), {.exit_code = 0, .out = now});
  CommandResult dry = Run("config.restore", {{"postconf_n", kPostconfN}}, true);
  EXPECT_EQ(dry.status(), "ok") << dry.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{Postfix({"postconf", "-n"})}));
  EXPECT_EQ(dry.result().summary(), "would change 2 and remove 1 parameters");
  runner_.Answer(Postfix({"postconf", "-n"}), {.exit_code = 0, .out = kPostconfN});
  CommandResult r = Run("config.restore", {{"postconf_n", kPostconfN}});
  // Against the fake the current text already equals the target: nothing to set.
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(r.result().changed(), 0u);
}

TEST_F(ConfigActionsTest, RestoreFailsWhenPostconfStillDiffers) {
  Ok(Postfix({"postconf", "-n"}), "inet_interfaces = loopback-only\n");
  Ok(Postfix({"postconf", "-e", "inet_interfaces = all"}));
  Ok(Postfix({"postfix", "check"}));
  CommandResult r = Run("config.restore", {{"postconf_n", "inet_interfaces = all\n"}});
  EXPECT_EQ(r.status(), "failed");
  EXPECT_NE(r.error().find("still differs"), std::string::npos) << r.error();
}

TEST_F(ConfigActionsTest, ARestoreThatPostfixCheckRefusesIsPutBack) {
  Ok(Postfix({"postconf", "-n"}), "inet_interfaces = all\n");
  Ok(Postfix({"postconf", "-e", "relayhost = [bad"}));
  runner_.Answer(Postfix({"postfix", "check"}),
                 {.exit_code = 1, .err = "postfix: fatal: bad relayhost syntax\n"});
  Ok(Postfix({"postconf", "-X", "relayhost"}));
  Ok(Postfix({"postconf", "-e", "inet_interfaces = all"}));
  CommandResult r =
      Run("config.restore", {{"postconf_n", "inet_interfaces = all\nrelayhost = [bad\n"}});
  EXPECT_EQ(r.status(), "failed");
  EXPECT_NE(r.error().find("put back"), std::string::npos) << r.error();
  auto calls = runner_.calls();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[calls.size() - 2], Postfix({"postconf", "-X", "relayhost"}));
  EXPECT_EQ(calls.back(), Postfix({"postconf", "-e", "inet_interfaces = all"}));
}

TEST_F(ConfigActionsTest, EmergencyResetKeepsTheFirstBackupAndRestoreNeedsOne) {
  Ok(Postfix({"postconf", "-n"}), kPostconfN);
  Ok(Postfix({"postconf", "-e", "inet_interfaces = loopback-only", "mydestination = localhost"}));
  Ok(Postfix({"postfix", "stop"}));
  Ok(Postfix({"postfix", "start"}));
  CommandResult restore_first = Run("emergency.restore");
  EXPECT_EQ(restore_first.status(), "failed");
  EXPECT_NE(restore_first.error().find("no emergency reset is in force"), std::string::npos);

  CommandResult r = Run("emergency.reset");
  ASSERT_EQ(r.status(), "ok") << r.error();
  auto backup = ReadFile(options_.state_dir + "/emergency-postconf-n");
  ASSERT_TRUE(backup.ok());
  EXPECT_EQ(*backup, kPostconfN);
  EXPECT_EQ(r.result().values().at("backup"), kPostconfN);
  // A second reset while the minimal configuration is in force keeps the original backup.
  runner_.Answer(Postfix({"postconf", "-n"}),
                 {.exit_code = 0, .out = "inet_interfaces = loopback-only\n"});
  CommandResult again = Run("emergency.reset");
  ASSERT_EQ(again.status(), "ok") << again.error();
  EXPECT_EQ(*ReadFile(options_.state_dir + "/emergency-postconf-n"), kPostconfN);

  // Restore: the backup's text back, byte for byte (the fake's postconf -n then answers it).
  runner_.Answer(Postfix({"postconf", "-n"}), {.exit_code = 0, .out = kPostconfN});
  Ok(Postfix({"postfix", "check"}));
  CommandResult back = Run("emergency.restore");
  EXPECT_EQ(back.status(), "ok") << back.error();
  EXPECT_FALSE(std::filesystem::exists(options_.state_dir + "/emergency-postconf-n"));
}

TEST_F(ConfigActionsTest, EmergencyResetWithoutAStateFolderSaysSo) {
  options_.state_dir.clear();
  CommandResult r = Run("emergency.reset");
  EXPECT_EQ(r.status(), "failed");
  EXPECT_NE(r.error().find("no state folder"), std::string::npos);
  EXPECT_TRUE(runner_.calls().empty());
}

TEST_F(ConfigActionsTest, DebugTurnsItselfOffAndPutsTheOldSettingsBack) {
  // main.cf set debug_peer_level = 3 and no debug_peer_list.
  Ok(Postfix({"postconf", "-n", "debug_peer_list", "debug_peer_level"}), "debug_peer_level = 3\n");
  Ok(Postfix({"postconf", "-e", "debug_peer_list = 198.18.0.0/24", "debug_peer_level = 2"}));
  Ok(Postfix({"postfix", "reload"}));
  Ok({"doveadm", "-c", options_.dovecot_config, "reload"});
  Ok(Postfix({"postconf", "-X", "debug_peer_list"}));
  Ok(Postfix({"postconf", "-e", "debug_peer_level = 3"}));

  CommandResult on = Run("debug.on", {{"ttl", "60"}, {"peers", "198.18.0.0/24"}});
  ASSERT_EQ(on.status(), "ok") << on.error();
  auto conf = ReadFile(options_.dovecot_config);
  ASSERT_TRUE(conf.ok());
  EXPECT_NE(conf->find("auth_debug = yes"), std::string::npos);
  EXPECT_NE(conf->find("mail_debug = yes"), std::string::npos);

  // A second debug.on extends the time but keeps the settings from before the first.
  CommandResult again = Run("debug.on", {{"ttl", "60"}, {"peers", "198.18.0.0/24"}});
  ASSERT_EQ(again.status(), "ok") << again.error();

  agent::ActionRunner actions(runner_, clock_, options_);
  clock_.Advance(std::chrono::seconds(30));
  auto calls_before = runner_.calls().size();
  actions.RevertExpiredDebug();  // not yet
  EXPECT_EQ(runner_.calls().size(), calls_before);
  clock_.Advance(std::chrono::seconds(31));
  actions.RevertExpiredDebug();
  auto calls = runner_.calls();
  std::vector<Argv> tail(calls.begin() + static_cast<long>(calls_before), calls.end());
  EXPECT_EQ(tail, (std::vector<Argv>{Postfix({"postconf", "-X", "debug_peer_list"}),
                                     Postfix({"postconf", "-e", "debug_peer_level = 3"}),
                                     Postfix({"postfix", "reload"}),
                                     {"doveadm", "-c", options_.dovecot_config, "reload"}}));
  EXPECT_EQ(*ReadFile(options_.dovecot_config), "protocols = imap lmtp\n");
  EXPECT_FALSE(std::filesystem::exists(options_.state_dir + "/debug-state"));
  // Nothing left to revert.
  actions.RevertExpiredDebug();
  EXPECT_EQ(runner_.calls().size(), calls.size());
}

TEST_F(ConfigActionsTest, DebugOffWhenNotOnChangesNothing) {
  CommandResult off = Run("debug.off");
  EXPECT_EQ(off.status(), "ok") << off.error();
  EXPECT_EQ(off.result().summary(), "debug logging was not on");
  EXPECT_TRUE(runner_.calls().empty());
}

TEST(ConfigDiffTest, ByParameterAndByLine) {
  EXPECT_TRUE(cli::DiffLines(kPostconfN, kPostconfN, true).empty());
  auto by_param = cli::DiffLines("a = 1\nb = 2\nc = 3\n", "a = 1\nb = 5\nd = 4\n", true);
  EXPECT_EQ(by_param, (std::vector<std::string>{"-b = 2", "+b = 5", "-c = 3", "+d = 4"}));
  auto by_line = cli::DiffLines("x\ny\nz\n", "x\nq\nz\nw\n", false);
  EXPECT_EQ(by_line, (std::vector<std::string>{"+q", "-y", "+w"}));
}

}  // namespace
}  // namespace mailfleet
