// The numbered SQL migrations in collector/store/migrations/, embedded at build time.
// Applied in order at collector start, in one transaction, each at most once.
#pragma once

#include <string>
#include <vector>

namespace mailfleet::collector {

struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// Ordered by version.
const std::vector<Migration>& Migrations();

}  // namespace mailfleet::collector
