// Runs the typed actions of common/actions on this host (DESIGN.md "Actions"). Every command
// is validated again here, checked against this agent's own policy (forbidden risk classes),
// and turned into argv lines for the ProcessRunner: never a shell.
//   ActionRunner actions(runner, clock, {.postfix_config_dir = "/etc/postfix", ...});
//   mailfleet::v1::CommandResult r = actions.Run(command);
#pragma once

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/actions/actions.h"
#include "common/clock.h"
#include "common/process_runner.h"
#include "mailfleet/v1/agent.pb.h"

namespace mailfleet::agent {

struct ActionRunnerOptions {
  std::string postfix_config_dir = "/etc/postfix";
  std::string dovecot_config = "/etc/dovecot/dovecot.conf";
  // Risk classes this agent refuses whatever the collector asks (its config's actions.forbid).
  std::set<actions::Risk> forbidden;
  // Start, stop and reload through systemctl (postfix.service, dovecot.service) rather than
  // the programs' own commands: true when systemd runs and the default instance is managed.
  bool use_systemd = false;
  // Where emergency backups and the debug-logging state live (the agent's state folder);
  // empty: those actions fail saying so.
  std::string state_dir;
  // For diagnose: this host's fleet name, a test account for auth.dovecot, the users whose
  // Maildirs to check (empty: sample the userdb).
  std::string agent_name;
  std::string auth_probe_user;
  std::string auth_probe_password;
  std::vector<std::string> maildir_users;
};

class ActionRunner {
 public:
  // runner and clock must outlive this.
  ActionRunner(ProcessRunner& runner, const Clock& clock, ActionRunnerOptions options);

  // Runs the command to its end (or its timeout) and reports the outcome; never throws.
  // Thread-safe: commands may run side by side.
  mailfleet::v1::CommandResult Run(const mailfleet::v1::Command& command);

  // At most this many queue ids go on one postsuper command line.
  static constexpr int kIdsPerCommand = 200;

  // Ends debug logging whose time is up, also when it was started before this process (the
  // state is kept in state_dir). Call at start and then every second or so.
  void RevertExpiredDebug();

 private:
  class Run_;
  ProcessRunner& runner_;
  const Clock& clock_;
  const ActionRunnerOptions options_;
  absl::Mutex debug_mu_;   // one debug change at a time
  absl::Mutex change_mu_;  // one changing action at a time
};

// postsuper's "Placed on hold: 3 messages" style summary lines, summed: how many messages a
// postsuper run changed. -1 when it printed no such line.
int CountPostsuperChanges(std::string_view output);

}  // namespace mailfleet::agent
