// --since / --until values: relative ("90s", "15m", "2h", "3d", "1w": that long before now) or
// absolute ("2026-11-29", "2026-11-29T08:00", "2026-11-29 08:00:00", optional Z or +01:00;
// without a zone, UTC).
#pragma once

#include <chrono>
#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/timestamp.pb.h"

namespace mailfleet::cli {

absl::StatusOr<std::chrono::system_clock::time_point> ParseTimeArg(
    std::string_view text, std::chrono::system_clock::time_point now);

// Parses --since and --until (either may be empty: that bound is left unset) into *since and
// *until, relative to now.
absl::Status ParseTimeRange(std::string_view since_text, std::string_view until_text,
                            std::chrono::system_clock::time_point now,
                            google::protobuf::Timestamp* since, google::protobuf::Timestamp* until,
                            bool* has_since, bool* has_until);

}  // namespace mailfleet::cli
