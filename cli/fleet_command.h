// Commands for many hosts (`mailfleet queue`, flush, hold, release, requeue, delete,
// service, audit): the options they share, the request they build and the per-host results
// streamed back from the collector.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cli/client.h"
#include "mailfleet/v1/control.pb.h"

namespace mailfleet::cli {

// Which hosts, and which queued messages.
struct TargetOptions {
  std::vector<std::string> hosts;
  bool all = false;
  std::vector<std::string> queues;
  std::string from, to, older_than, younger_than, reason, min_size;
  std::vector<std::string> ids;
};

// How a changing command rolls out.
struct RolloutOptions {
  bool dry_run = false;
  bool yes = false;
  bool canary = false;
  uint32_t batch = 0;
  bool queue_offline = false;
  std::string offline_ttl;  // a duration: 30m, 2h
  uint32_t timeout = 0;     // seconds per host; 0: the collector's default
  bool everything = false;  // act on every message (no filter)
  bool json = false;
};

// Fills hosts and filter of the request from the options; errors name the bad option.
absl::Status BuildTargets(const TargetOptions& targets, bool default_all,
                          mailfleet::v1::CommandRequest* request);

// Sends the request and calls on_event for each event as it arrives. Returns the results.
absl::StatusOr<std::vector<mailfleet::v1::HostResult>> StreamCommand(
    const CliConfig& config, const mailfleet::v1::CommandRequest& request,
    const std::function<void(const mailfleet::v1::CommandEvent&)>& on_event);

// Applies the rollout options, runs the request and prints each host's result as it comes
// (JSON lines with rollout.json). Destructive actions ask first unless rollout.yes.
int RunAction(const CliConfig& config, mailfleet::v1::CommandRequest request,
              const RolloutOptions& rollout);

// "h1, h2" or "every host", for questions.
std::string HostsPhrase(const mailfleet::v1::CommandRequest& request);
// Asks on the terminal; anything but "yes" declines.
bool Confirm(const std::string& question);

// `mailfleet flush|hold|release|requeue|delete`: action is queue.flush and so on.
int RunQueueAction(const CliConfig& config, const std::string& action, const TargetOptions& targets,
                   const RolloutOptions& rollout);

// `mailfleet service postfix|dovecot start|stop|reload|restart`.
int RunService(const CliConfig& config, const std::string& service, const std::string& op,
               const TargetOptions& targets, const RolloutOptions& rollout);

struct AuditOptions {
  std::string since, until, action;
  std::vector<std::string> hosts;
  uint32_t limit = 50;
  bool json = false;
};
int RunAudit(const CliConfig& config, const AuditOptions& options);

// The operator's login name, for the audit log.
std::string LocalUser();

}  // namespace mailfleet::cli
