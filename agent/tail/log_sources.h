// Which files the agent tails by default: Postfix's maillog_file when set (postconf -c DIR),
// and that of every secondary instance its multi_instance_directories lists; the
// distribution's /var/log/mail.log or /var/log/maillog when any instance logs to syslog; plus
// Dovecot's log_path (doveconf -c FILE) when it is a file rather than syslog.
#pragma once

#include <string>
#include <vector>

#include "common/process_runner.h"

namespace mailfleet::agent {

struct LogSourceDefaults {
  std::vector<std::string> paths;
  std::vector<std::string> notes;  // what was looked at and why a path was or was not taken
};

// `exists` answers whether a path exists (a fake in tests).
LogSourceDefaults DefaultLogFiles(ProcessRunner& runner, const std::string& postfix_config_dir,
                                  const std::string& dovecot_config,
                                  bool (*exists)(const std::string&));

}  // namespace mailfleet::agent
