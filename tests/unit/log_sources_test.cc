#include "agent/tail/log_sources.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_process_runner.h"

namespace mailfleet::agent {
namespace {

using mailfleet::testing::FakeProcessRunner;
using ::testing::ElementsAre;

bool DebianLogExists(const std::string& path) { return path == "/var/log/mail.log"; }
bool RedHatLogExists(const std::string& path) { return path == "/var/log/maillog"; }
bool NothingExists(const std::string&) { return false; }

class LogSourcesTest : public ::testing::Test {
 protected:
  void Postconf(const std::string& dir, const std::string& name, const std::string& value) {
    runner_.Answer({"postconf", "-c", dir, "-x", "-h", name},
                   {.exit_code = 0, .out = value + "\n"});
  }
  void Doveconf(const std::string& value) {
    runner_.Answer({"doveconf", "-c", "/etc/dovecot/dovecot.conf", "-h", "log_path"},
                   {.exit_code = 0, .out = value + "\n"});
  }
  LogSourceDefaults Defaults(bool (*exists)(const std::string&) = DebianLogExists) {
    return DefaultLogFiles(runner_, "/etc/postfix", "/etc/dovecot/dovecot.conf", exists);
  }

  FakeProcessRunner runner_;
};

TEST_F(LogSourcesTest, PostfixMaillogFileAndDovecotLogPath) {
  Postconf("/etc/postfix", "multi_instance_directories", "");
  Postconf("/etc/postfix", "maillog_file", "/var/log/postfix.log");
  Doveconf("/var/log/dovecot.log");
  EXPECT_THAT(Defaults().paths, ElementsAre("/var/log/postfix.log", "/var/log/dovecot.log"));
}

TEST_F(LogSourcesTest, SyslogFallsBackToTheDistributionsMailLog) {
  Postconf("/etc/postfix", "multi_instance_directories", "");
  Postconf("/etc/postfix", "maillog_file", "");
  Doveconf("syslog");
  EXPECT_THAT(Defaults().paths, ElementsAre("/var/log/mail.log"));
  EXPECT_THAT(Defaults(RedHatLogExists).paths, ElementsAre("/var/log/maillog"));
  // Neither exists yet: the Debian name is followed once it appears.
  EXPECT_THAT(Defaults(NothingExists).paths, ElementsAre("/var/log/mail.log"));
}

TEST_F(LogSourcesTest, StdoutAndDevicesAreNotFollowed) {
  Postconf("/etc/postfix", "multi_instance_directories", "");
  Postconf("/etc/postfix", "maillog_file", "/dev/stdout");
  Doveconf("/dev/stderr");
  EXPECT_THAT(Defaults().paths, ElementsAre("/var/log/mail.log"));
}

TEST_F(LogSourcesTest, EverySecondaryInstanceLogFileOnce) {
  // postmulti: the primary lists its secondaries; two log to their own files, one of them
  // the same file as the primary, and one to syslog.
  Postconf("/etc/postfix", "multi_instance_directories",
           "/etc/postfix-out, /etc/postfix-in /etc/postfix-relay");
  Postconf("/etc/postfix", "maillog_file", "/var/log/postfix.log");
  Postconf("/etc/postfix-out", "maillog_file", "/var/log/postfix-out.log");
  Postconf("/etc/postfix-in", "maillog_file", "/var/log/postfix.log");
  Postconf("/etc/postfix-relay", "maillog_file", "");
  Doveconf("syslog");
  LogSourceDefaults got = Defaults();
  EXPECT_THAT(got.paths,
              ElementsAre("/var/log/postfix.log", "/var/log/postfix-out.log", "/var/log/mail.log"));
  EXPECT_THAT(got.notes, ::testing::Contains("postfix /etc/postfix-relay: logs to syslog"));
}

TEST_F(LogSourcesTest, AFailingPostconfFallsBackToSyslogAndSaysWhy) {
  runner_.Answer(
      {"postconf", "-c", "/etc/postfix", "-x", "-h", "multi_instance_directories"},
      {.exit_code = 1, .err = "postconf: fatal: open /etc/postfix/main.cf: No such file"});
  runner_.Answer(
      {"postconf", "-c", "/etc/postfix", "-x", "-h", "maillog_file"},
      {.exit_code = 1, .err = "postconf: fatal: open /etc/postfix/main.cf: No such file"});
  // No doveconf answer: Dovecot is not installed.
  LogSourceDefaults got = Defaults();
  EXPECT_THAT(got.paths, ElementsAre("/var/log/mail.log"));
  ASSERT_FALSE(got.notes.empty());
  EXPECT_THAT(got.notes[0], ::testing::HasSubstr("main.cf: No such file"));
}

}  // namespace
}  // namespace mailfleet::agent
