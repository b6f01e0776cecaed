// `mailfleet stats`: a pflogsumm-style report per host and for the fleet.
#pragma once

#include <string>
#include <vector>

#include "cli/client.h"

namespace mailfleet::cli {

struct StatsOptions {
  std::vector<std::string> hosts;
  std::string since, until;
  uint32_t top = 10;
  bool json = false;
};

int RunStats(const CliConfig& config, const StatsOptions& options);

// The report for people (one section per host, then the fleet).
std::string FormatStats(const mailfleet::v1::StatsResponse& stats);

}  // namespace mailfleet::cli
