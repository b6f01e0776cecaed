// Output of the CLI: aligned tables for people, JSON for scripts.
//   std::cout << FormatHostsTable(response.hosts(), now);
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "mailfleet/v1/control.pb.h"

namespace mailfleet::cli {

// Columns padded to their widest cell, two spaces apart; the header first.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

// "just now", "42s ago", "5m ago", "3h ago", "2d ago"; "never" for the epoch.
std::string Ago(std::chrono::system_clock::time_point then,
                std::chrono::system_clock::time_point now);

// "512 B", "1.5 KiB", "3.0 MiB".
std::string Bytes(uint64_t n);
// The host's log shipping lag: "none", "12.0 KiB, 3s", or "-" when it reports no sources.
std::string LogLag(const mailfleet::v1::Heartbeat& pipeline);

std::string FormatHostsTable(const google::protobuf::RepeatedPtrField<mailfleet::v1::Host>& hosts,
                             std::chrono::system_clock::time_point now);

// The message as one JSON object, with proto field names and default values printed.
std::string ToJson(const google::protobuf::Message& message);

// A stored log line as one JSON object (`logs --json`): id, host (the fleet host), time, kind,
// severity, every parsed field by its column name, and raw. Numbers, the delays array and the
// flags are JSON numbers, an array and booleans, as `mailfleet parse` prints them.
std::string StoredEventJson(const mailfleet::v1::StoredEvent& event);

}  // namespace mailfleet::cli
