// A fresh database per test on the PostgreSQL server that tests/run.sh started
// (MAILFLEET_TEST_DATABASE, a libpq string for an admin connection).
#pragma once

#include <string>

#include "gtest/gtest.h"

namespace mailfleet::testing {

class FreshDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // libpq string for this test's own, empty database.
  const std::string& conninfo() const { return conninfo_; }
  // Runs one SQL statement on this test's database and returns the first column of the first
  // row as text ("" when no row).
  std::string QueryOne(const std::string& sql);

 private:
  std::string admin_;
  std::string name_;
  std::string conninfo_;
};

}  // namespace mailfleet::testing
