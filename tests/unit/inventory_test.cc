#include "agent/inventory/inventory.h"

#include <filesystem>
#include <fstream>

#include "common/sha256.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_process_runner.h"

namespace mailfleet::agent {
namespace {

using mailfleet::testing::FakeProcessRunner;

// Outputs recorded from Debian 12's Postfix 3.7 and Dovecot 2.3 in the lab.
constexpr char kPostconfN[] =
    "alias_database =\nalias_maps =\nappend_dot_mydomain = no\nbiff = no\n"
    "compatibility_level = 3.6\nmyhostname = h1.lab.test\n";

class InventoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    os_release_ = std::filesystem::temp_directory_path() /
                  ("mailfleet-os-release-" + std::to_string(::getpid()));
    std::ofstream(os_release_) << "NAME=\"Debian GNU/Linux\"\n"
                                  "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
    options_ = {.postfix_config_dir = "/srv/postfix-out",
                .dovecot_config = "/srv/dovecot/out.conf",
                .os_release = os_release_.string()};
  }
  void TearDown() override { std::filesystem::remove(os_release_); }

  void AnswerHealthyHost() {
    runner_.Answer({"postconf", "-c", "/srv/postfix-out", "-h", "mail_version"},
                   {.exit_code = 0, .out = "3.7.11\n"});
    runner_.Answer({"postconf", "-c", "/srv/postfix-out", "-n"},
                   {.exit_code = 0, .out = kPostconfN});
    runner_.Answer({"doveconf", "-c", "/srv/dovecot/out.conf", "-h", "protocols"},
                   {.exit_code = 0, .out = "imap lmtp\n"});
    runner_.Answer({"dovecot", "--version"}, {.exit_code = 0, .out = "2.3.19.1 (9b53102964)\n"});
  }

  std::filesystem::path os_release_;
  InventoryOptions options_;
  FakeProcessRunner runner_;
};

TEST_F(InventoryTest, ReadsVersionsAndHashesThePostfixConfig) {
  AnswerHealthyHost();
  auto inv = CollectInventory(runner_, options_);
  EXPECT_EQ(inv.postfix_version(), "3.7.11");
  EXPECT_EQ(inv.dovecot_version(), "2.3.19.1");
  EXPECT_EQ(inv.postfix_config_hash(), Sha256Hex(kPostconfN));
  EXPECT_EQ(inv.os(), "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(inv.postfix_config_dir(), "/srv/postfix-out");
  EXPECT_EQ(inv.dovecot_config(), "/srv/dovecot/out.conf");
  EXPECT_FALSE(inv.agent_version().empty());
  EXPECT_FALSE(inv.kernel().empty());
  EXPECT_EQ(inv.inventory_errors_size(), 0);
}

TEST_F(InventoryTest, EveryPostfixAndDovecotCommandGetsTheConfiguredInstance) {
  AnswerHealthyHost();
  CollectInventory(runner_, options_);
  for (const auto& argv : runner_.calls()) {
    if (argv[0] == "postconf") {
      ASSERT_GE(argv.size(), 3u);
      EXPECT_EQ(argv[1], "-c");
      EXPECT_EQ(argv[2], "/srv/postfix-out");
    }
    if (argv[0] == "doveconf") {
      EXPECT_EQ(argv[2], "/srv/dovecot/out.conf");
    }
  }
}

TEST_F(InventoryTest, MissingPostfixIsReportedNotFatal) {
  runner_.Answer({"doveconf", "-c", "/srv/dovecot/out.conf", "-h", "protocols"},
                 {.exit_code = 0, .out = "imap\n"});
  runner_.Answer({"dovecot", "--version"}, {.exit_code = 0, .out = "2.3.19.1 (9b53102964)\n"});
  auto inv = CollectInventory(runner_, options_);
  EXPECT_EQ(inv.postfix_version(), "");
  EXPECT_EQ(inv.dovecot_version(), "2.3.19.1");
  ASSERT_EQ(inv.inventory_errors_size(), 2);
  EXPECT_NE(inv.inventory_errors(0).find("postconf"), std::string::npos) << inv.inventory_errors(0);
}

TEST_F(InventoryTest, BrokenPostfixConfigSaysWhatPostconfSaid) {
  runner_.Answer(
      {"postconf", "-c", "/srv/postfix-out", "-h", "mail_version"},
      {.exit_code = 1,
       .err = "postconf: fatal: open /srv/postfix-out/main.cf: No such file or directory\n"});
  auto inv = CollectInventory(runner_, options_);
  ASSERT_GE(inv.inventory_errors_size(), 1);
  EXPECT_NE(inv.inventory_errors(0).find("/srv/postfix-out/main.cf: No such file"),
            std::string::npos)
      << inv.inventory_errors(0);
}

TEST_F(InventoryTest, DovecotConfigThatDoesNotLoadLeavesTheVersionEmpty) {
  AnswerHealthyHost();
  runner_.Answer({"doveconf", "-c", "/srv/dovecot/out.conf", "-h", "protocols"},
                 {.exit_code = 89, .err = "doveconf: Fatal: Error in configuration file\n"});
  auto inv = CollectInventory(runner_, options_);
  EXPECT_EQ(inv.dovecot_version(), "");
  ASSERT_EQ(inv.inventory_errors_size(), 1);
  EXPECT_NE(inv.inventory_errors(0).find("Error in configuration file"), std::string::npos);
}

TEST(Sha256Test, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace mailfleet::agent
