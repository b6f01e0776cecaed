// The real runner against real, tiny programs: it is the edge the fakes stand in for.
#include "common/process_runner.h"

#include "gtest/gtest.h"

namespace mailfleet {
namespace {

TEST(ProcessRunnerTest, CapturesStdoutStderrAndExitCode) {
  RealProcessRunner runner;
  auto r = runner.Run({.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_FALSE(r->ok());
  EXPECT_EQ(r->Describe(), "exit 3: err");
}

TEST(ProcessRunnerTest, PassesArgumentsVerbatimWithoutAShell) {
  RealProcessRunner runner;
  auto r = runner.Run({.argv = {"printf", "%s|", "; rm -rf /", "$(id)", "a b"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "; rm -rf /|$(id)|a b|");
}

TEST(ProcessRunnerTest, EnvironmentIsCleanUnlessGiven) {
  setenv("MAILFLEET_SECRET_FOR_TEST", "leak", 1);
  RealProcessRunner runner;
  auto r = runner.Run({.argv = {"env"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.find("MAILFLEET_SECRET_FOR_TEST"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("PATH="), std::string::npos);
}

TEST(ProcessRunnerTest, TimeoutKillsTheProcess) {
  RealProcessRunner runner;
  auto start = std::chrono::steady_clock::now();
  auto r = runner.Run({.argv = {"sleep", "30"}, .timeout = std::chrono::milliseconds(200)});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_FALSE(r->ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(ProcessRunnerTest, ADaemonKeepingTheOutputOpenDoesNotHoldTheRun) {
  // Like `dovecot -c FILE`: the program exits, the daemon it started keeps its stdout.
  RealProcessRunner runner;
  auto start = std::chrono::steady_clock::now();
  auto r = runner.Run(
      {.argv = {"sh", "-c", "sleep 3 & echo started"}, .timeout = std::chrono::seconds(10)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "started\n");
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(ProcessRunnerTest, OutputBeyondTheCapIsDroppedAndFlagged) {
  RealProcessRunner runner;
  auto r = runner.Run({.argv = {"head", "-c", "100000", "/dev/zero"}, .output_cap = 1000});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.size(), 1000u);
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->exit_code, 0);
}

TEST(ProcessRunnerTest, MissingProgramIsNotFound) {
  RealProcessRunner runner;
  auto r = runner.Run({.argv = {"mailfleet-no-such-program"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("mailfleet-no-such-program"), std::string::npos);
}

}  // namespace
}  // namespace mailfleet
