// --since / --until values: relative ("90s", "15m", "2h", "3d", "1w": that long before now) or
// absolute ("2026-11-29", "2026-11-29T08:00", "2026-11-29 08:00:00", optional Z or +01:00;
// without a zone, UTC).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace mailfleet::cli {

// "90s", "15m", "2h", "3d", "1w"; nullopt for anything else.
std::optional<std::chrono::seconds> ParseDurationArg(std::string_view text);

absl::StatusOr<std::chrono::system_clock::time_point> ParseTimeArg(
    std::string_view text, std::chrono::system_clock::time_point now);

// Parses --since and --until (either may be empty: that bound stays unset) into a request
// with since and until fields (LogQuery, StatsRequest).
template <typename Request>
absl::Status SetTimeRange(std::string_view since_text, std::string_view until_text,
                          std::chrono::system_clock::time_point now, Request* request) {
  for (auto [text, is_since] : {std::pair{since_text, true}, std::pair{until_text, false}}) {
    if (text.empty()) continue;
    auto t = ParseTimeArg(text, now);
    if (!t.ok()) return t.status();
    int64_t us =
        std::chrono::duration_cast<std::chrono::microseconds>(t->time_since_epoch()).count();
    auto* field = is_since ? request->mutable_since() : request->mutable_until();
    field->set_seconds(us / 1'000'000);
    field->set_nanos(static_cast<int32_t>(us % 1'000'000) * 1000);
  }
  return absl::OkStatus();
}

}  // namespace mailfleet::cli
