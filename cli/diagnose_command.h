// `mailfleet diagnose`: the troubleshooting guide's checks on many hosts at once; a hosts x
// checks matrix, then the findings (host, check, summary, evidence, remedy) and the fleet
// checks. Exit code: 0 all ok, 1 some warn, 2 some fail, 3 could not run (on some host).
#pragma once

#include <string>
#include <vector>

#include "cli/client.h"
#include "cli/fleet_command.h"

namespace mailfleet::cli {

struct DiagnoseCliOptions {
  TargetOptions targets;  // no host named: every host
  std::vector<std::string> checks;
  std::string queue_warn, queue_fail, age_warn, age_fail, log_window;
  bool changes = false;
  bool json = false;
  uint32_t timeout = 0;
};

int RunDiagnose(const CliConfig& config, const DiagnoseCliOptions& options);

// The exit code for these results: 0 ok, 1 warn, 2 fail, 3 a host did not answer.
int DiagnoseExitCode(const std::vector<mailfleet::v1::HostResult>& hosts,
                     const std::vector<mailfleet::v1::CheckResult>& fleet);

// The diagnose --json document.
std::string DiagnoseJson(const std::vector<mailfleet::v1::HostResult>& hosts,
                         const std::vector<mailfleet::v1::CheckResult>& fleet);

}  // namespace mailfleet::cli
