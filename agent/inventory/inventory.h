// The host inventory an agent sends in Hello: names, addresses, OS, Postfix and Dovecot
// versions and a hash of `postconf -n`. Every Postfix command gets `-c config_dir` and every
// Dovecot command `-c dovecot_config`, so several instances on one host are told apart.
//   Inventory inv = CollectInventory(runner, {.postfix_config_dir = "/etc/postfix-out"});
#pragma once

#include <string>

#include "common/process_runner.h"
#include "mailfleet/v1/agent.pb.h"

namespace mailfleet::agent {

struct InventoryOptions {
  std::string postfix_config_dir = "/etc/postfix";
  std::string dovecot_config = "/etc/dovecot/dovecot.conf";
  std::string os_release = "/etc/os-release";
};

// Never fails: what cannot be read is left empty and explained in inventory_errors.
mailfleet::v1::Inventory CollectInventory(ProcessRunner& runner, const InventoryOptions& options);

}  // namespace mailfleet::agent
