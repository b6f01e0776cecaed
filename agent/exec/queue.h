// The Postfix queue as `postqueue -j` reports it, and the filters that select from it.
//   ASSIGN_OR_RETURN(auto messages, ParsePostqueueJson(run.out));
//   for (auto& m : messages) if (MatchesFilter(m, filter, now_seconds)) ...
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mailfleet/v1/agent.pb.h"

namespace mailfleet::agent {

// One JSON object per line (Postfix 3.1 and later). A line that is not a queue record is an
// error naming its number: a queue listing is never half-read silently.
absl::StatusOr<std::vector<mailfleet::v1::QueueMessage>> ParsePostqueueJson(std::string_view text);

// True iff the message passes every set field of the filter. now is seconds since the epoch.
bool MatchesFilter(const mailfleet::v1::QueueMessage& message,
                   const mailfleet::v1::QueueFilter& filter, int64_t now);

// "alice@example.com" matches itself and the domain "example.com" (and its subdomains'
// addresses do not); "<>" matches the empty address. Case-insensitive.
bool AddressMatches(std::string_view address, std::string_view pattern);

}  // namespace mailfleet::agent
