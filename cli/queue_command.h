// `mailfleet queue`: the queued messages of the fleet (postqueue -j on each host), listed or
// aggregated --by domain (qshape for the fleet), age, reason or host.
#pragma once

#include <string>

#include "cli/client.h"
#include "cli/fleet_command.h"

namespace mailfleet::cli {

struct QueueOptions {
  TargetOptions targets;  // no host named: every host
  std::string by;         // "", domain, age, reason, host
  uint32_t limit = 100;   // messages listed
  bool json = false;
};

int RunQueue(const CliConfig& config, const QueueOptions& options);

// The aggregation tables, exposed for tests: rows[0] is the header. now in seconds.
std::vector<std::vector<std::string>> QueueByDomain(
    const std::vector<mailfleet::v1::HostResult>& results, int64_t now);
std::vector<std::vector<std::string>> QueueByAge(
    const std::vector<mailfleet::v1::HostResult>& results, int64_t now);
std::vector<std::vector<std::string>> QueueByReason(
    const std::vector<mailfleet::v1::HostResult>& results);
std::vector<std::vector<std::string>> QueueByHost(
    const std::vector<mailfleet::v1::HostResult>& results, int64_t now);

}  // namespace mailfleet::cli
