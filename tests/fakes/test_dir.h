// A folder of its own for the running test, empty at the start and removed at the end.
//   class MyTest : public ::testing::Test {
//    protected:
//     testing::TestDir dir_{"mailfleet-my"};
//   };
//   std::ofstream(dir_.path() / "mail.log") << "...";
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace mailfleet::testing {

class TestDir {
 public:
  // TMPDIR/PREFIX-PID-TESTNAME: tests that run at once (ctest -j) never share one.
  explicit TestDir(const std::string& prefix)
      : path_(std::filesystem::temp_directory_path() /
              (prefix + "-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TestDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace mailfleet::testing
