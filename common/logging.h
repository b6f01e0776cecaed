// spdlog setup, called once from each main(). Logs go to stderr.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "common/absl_fmt.h"

namespace mailfleet {

// level: trace, debug, info, warn, error. `program` prefixes every line.
absl::Status SetupLogging(const std::string& program, const std::string& level);

}  // namespace mailfleet
