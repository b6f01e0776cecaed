#include "common/address.h"

#include <arpa/inet.h>

#include <charconv>

#include "fmt/format.h"

namespace mailfleet {

absl::StatusOr<HostPort> ParseHostPort(std::string_view text) {
  if (text.starts_with("unix:")) {
    return HostPort{std::string(text), 0};
  }
  std::string_view host;
  std::string_view port;
  if (text.starts_with("[")) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          fmt::format("'{}' is not an address: write an IPv6 address as [ADDR]:PORT", text));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return absl::InvalidArgumentError(
          fmt::format("'{}' is not an address: expected HOST:PORT, e.g. 127.0.0.1:7443", text));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int port_number = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (host.empty() || ec != std::errc() || ptr != port.data() + port.size() || port_number < 0 ||
      port_number > 65535) {
    return absl::InvalidArgumentError(
        fmt::format("'{}' is not an address: expected HOST:PORT with a port 0-65535", text));
  }
  return HostPort{std::string(host), port_number};
}

bool IsLoopbackHost(std::string_view host) {
  if (host.starts_with("unix:")) return true;
  if (host == "localhost") return true;
  std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

}  // namespace mailfleet
