// `mailfleet logs`: the fleet's stored mail log lines, filtered; --follow streams new ones.
#pragma once

#include <string>
#include <vector>

#include "cli/client.h"

namespace mailfleet::cli {

struct LogsOptions {
  std::vector<std::string> hosts;
  std::string since, until;
  std::string queue_id, message_id, from, to, status, service, grep;
  uint32_t limit = 100;
  bool follow = false;
  bool json = false;
};

// Returns the exit code: 0, 1 on a collector error, 2 on a bad argument.
int RunLogs(const CliConfig& config, const LogsOptions& options);

}  // namespace mailfleet::cli
