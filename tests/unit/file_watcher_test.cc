#include "agent/tail/file_watcher.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "tests/fakes/test_dir.h"

namespace mailfleet::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

class FileWatcherTest : public ::testing::Test {
 protected:
  void Append(const std::string& line) {
    std::ofstream(dir_ / "mail.log", std::ios::app) << line << "\n";
  }
  // Waits up to 5 s for `calls` to reach n.
  static bool WaitFor(const std::atomic<int>& calls, int n) {
    for (auto end = steady_clock::now() + std::chrono::seconds(5); steady_clock::now() < end;) {
      if (calls.load() >= n) return true;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
  }

  mailfleet::testing::TestDir test_dir_{"mailfleet-watch"};
  const std::filesystem::path& dir_ = test_dir_.path();
};

TEST_F(FileWatcherTest, LinesWrittenWhileSettlingCostOneMoreWake) {
  std::atomic<int> calls{0};
  FileWatcher watcher({dir_.string()}, [&calls] {
    ++calls;
    return milliseconds(1000);
  });
  ASSERT_TRUE(watcher.status().ok()) << watcher.status();
  Append("first");
  ASSERT_TRUE(WaitFor(calls, 1));
  for (int i = 0; i < 50; ++i) Append("line " + std::to_string(i));
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(calls.load(), 1) << "woke again inside the settle time";
  // After the settle time, the 50 lines' events are read at once: one more call.
  ASSERT_TRUE(WaitFor(calls, 2));
  std::this_thread::sleep_for(milliseconds(1300));
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(FileWatcherTest, NoSettleWakesForEachChange) {
  std::atomic<int> calls{0};
  FileWatcher watcher({dir_.string()}, [&calls] {
    ++calls;
    return milliseconds(0);
  });
  for (int i = 1; i <= 3; ++i) {
    Append("line");
    ASSERT_TRUE(WaitFor(calls, i)) << "change " << i;
  }
}

TEST_F(FileWatcherTest, StopsWithoutWaitingOutTheSettleTime) {
  std::atomic<int> calls{0};
  auto watcher = std::make_unique<FileWatcher>(std::vector<std::string>{dir_.string()}, [&calls] {
    ++calls;
    return milliseconds(60'000);
  });
  Append("line");
  ASSERT_TRUE(WaitFor(calls, 1));
  auto start = steady_clock::now();
  watcher.reset();
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(FileWatcherTest, AFolderThatCannotBeWatchedIsReported) {
  FileWatcher watcher({(dir_ / "missing").string()}, [] { return milliseconds(0); });
  EXPECT_FALSE(watcher.status().ok());
  EXPECT_NE(watcher.status().message().find("missing"), std::string::npos)
      << watcher.status().message();
}

}  // namespace
}  // namespace mailfleet::agent
