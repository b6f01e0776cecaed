// The registry of actions an agent can be asked to run (DESIGN.md "Actions"): each has a
// name, a risk class and validated parameters. The collector and the CLI validate with it
// before a command is recorded; the agent validates again before it builds any argv, so a
// command that did not come through them is held to the same rules.
//   ASSIGN_OR_RETURN(Risk risk, ValidateCommand(cmd.action(), cmd.params(), cmd.filter()));
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/map.h"
#include "mailfleet/v1/agent.pb.h"

namespace mailfleet::actions {

enum class Risk { kRead, kChange, kDestructive };

std::string_view RiskName(Risk risk);
// "read", "change" or "destructive".
absl::StatusOr<Risk> ParseRisk(std::string_view name);

using Params = google::protobuf::Map<std::string, std::string>;

struct ActionInfo {
  std::string_view name;
  std::string_view summary;
  bool takes_filter;  // resolves a QueueFilter against the queue
};

// Every registered action, in a stable order.
const std::vector<ActionInfo>& Registry();

// Checks the action exists, its parameters are the ones it takes with valid values, and the
// filter is well formed (valid queue ids, addresses, queue names); returns the risk class.
// Errors name the bad value and what would be accepted.
absl::StatusOr<Risk> ValidateCommand(std::string_view action, const Params& params,
                                     const mailfleet::v1::QueueFilter& filter);

// A Postfix queue id, short (hex, "3F1A2B4C5D") or long ("4ZbCZn4gyrzVnMg"). Never "ALL",
// never anything that could be read as an option or a second argument.
absl::Status ValidateQueueId(std::string_view id);
// An address ("alice@example.com"), a bare domain ("example.com"), or "<>" (null sender).
absl::Status ValidateAddressOrDomain(std::string_view what, std::string_view value);
// `postconf -n` output: one "name = value" line per parameter, in order. Names are
// letters, digits, '_' and '-'; values hold no control character.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParsePostconfN(
    std::string_view text);
absl::Status ValidatePostconfText(std::string_view text);
// Whether diagnose's check `id` is among `selected` (ids, or families ending in '.' such as
// "dns."); an empty selection selects every check.
bool CheckSelected(const std::vector<std::string>& selected, std::string_view id);

// One of Postfix's queues: incoming, active, deferred, hold, corrupt, maildrop.
absl::Status ValidateQueueName(std::string_view name);

}  // namespace mailfleet::actions
