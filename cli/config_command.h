// `mailfleet config snapshot|diff|restore`, `mailfleet emergency reset|restore`,
// `mailfleet debug on|off` and `mailfleet auth cache-flush`: configuration and recovery
// commands on top of the fleet command path.
#pragma once

#include <string>
#include <vector>

#include "cli/client.h"
#include "cli/fleet_command.h"

namespace mailfleet::cli {

struct ConfigOptions {
  TargetOptions targets;
  RolloutOptions rollout;
  int64_t snapshot = 0;  // a config.snapshot command id
};
int RunConfigSnapshot(const CliConfig& config, const ConfigOptions& options);
// Takes a snapshot of one host now and compares it with an earlier one (--snapshot, else the
// host's previous snapshot).
int RunConfigDiff(const CliConfig& config, const ConfigOptions& options);
int RunConfigRestore(const CliConfig& config, const ConfigOptions& options);

// op: reset or restore.
int RunEmergency(const CliConfig& config, const std::string& op, const ConfigOptions& options);

struct DebugOptions {
  std::string service = "both";
  std::string ttl = "15m";
  std::vector<std::string> peers;
  int level = 0;  // 0: Postfix's default for debug (2)
};
int RunDebug(const CliConfig& config, const std::string& op, const DebugOptions& debug,
             const ConfigOptions& options);

int RunAuthCacheFlush(const CliConfig& config, const ConfigOptions& options);

// The lines of `before` and `after` that differ, as "-line" / "+line" (postconf -n by
// parameter name, anything else by line), in order; empty when equal.
std::vector<std::string> DiffLines(const std::string& before, const std::string& after,
                                   bool by_parameter);

}  // namespace mailfleet::cli
