// HOST:PORT parsing and the loopback test that gates plaintext (--insecure).
//   ASSIGN_OR_RETURN(HostPort hp, ParseHostPort("[::1]:7443"));
//   if (!IsLoopbackHost(hp.host)) ...
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mailfleet {

struct HostPort {
  std::string host;  // without brackets
  int port = 0;
};

// Accepts "host:port", "1.2.3.4:port", "[v6]:port" and "unix:/path" (port 0).
absl::StatusOr<HostPort> ParseHostPort(std::string_view text);

// True iff host is "localhost", an address in 127.0.0.0/8, "::1", or a unix socket path.
bool IsLoopbackHost(std::string_view host);

}  // namespace mailfleet
