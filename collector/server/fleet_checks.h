// The fleet checks of a diagnose run, built by the collector from every host's result:
// fleet.reachability (who cannot reach whose port 25) and fleet.config_drift (postconf -n
// and doveconf -n parameters that differ from the fleet's majority).
#pragma once

#include <vector>

#include "mailfleet/v1/control.pb.h"

namespace mailfleet::collector {

std::vector<mailfleet::v1::CheckResult> FleetChecks(
    const std::vector<mailfleet::v1::HostResult>& results);

}  // namespace mailfleet::collector
