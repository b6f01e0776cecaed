#include "tests/integration/pg_test_support.h"

#include <random>

#include "fmt/format.h"
#include "pqxx/pqxx"

namespace mailfleet::testing {

void FreshDatabaseTest::SetUp() {
  const char* admin = std::getenv("MAILFLEET_TEST_DATABASE");
  ASSERT_TRUE(admin != nullptr && *admin)
      << "MAILFLEET_TEST_DATABASE is not set: run the integration tests through tests/run.sh, "
         "which starts a PostgreSQL server for them";
  admin_ = admin;
  name_ = fmt::format("mftest_{:08x}", std::random_device{}());
  pqxx::connection c(admin_);
  pqxx::nontransaction tx(c);
  tx.exec("CREATE DATABASE " + name_);
  conninfo_ = fmt::format("{} dbname={}", admin_, name_);
}

void FreshDatabaseTest::TearDown() {
  if (name_.empty()) return;
  pqxx::connection c(admin_);
  pqxx::nontransaction tx(c);
  tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
}

std::string FreshDatabaseTest::QueryOne(const std::string& sql) {
  pqxx::connection c(conninfo_);
  pqxx::nontransaction tx(c);
  auto r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

}  // namespace mailfleet::testing
