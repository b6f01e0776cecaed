// LogEvent as one JSON object (the `mailfleet parse` line format): only the fields the line
// had, named as the events table's columns (and `mailfleet logs --json`): sender, recipient,
// dovecot_user, ...; "host" is the line's own host field. Time as RFC 3339 UTC with
// microseconds. Bytes that are not UTF-8 are written as U+FFFD; the event says so in
// "invalid_utf8".
#pragma once

#include <string>
#include <string_view>

#include "common/parse/log_event.h"

namespace mailfleet::parse {

// Appends the JSON object (no newline) to *out.
void AppendEventJson(const LogEvent& event, std::string* out);

// Appends s as a JSON string literal, quotes included.
void AppendJsonString(std::string_view s, std::string* out);

// "2026-11-29T02:57:41.123456Z"; "" for 0.
std::string FormatTimeUs(int64_t time_us);

}  // namespace mailfleet::parse
