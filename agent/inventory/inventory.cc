#include "agent/inventory/inventory.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "common/absl_fmt.h"
#include "common/sha256.h"
#include "common/version.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace mailfleet::agent {
namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return std::string(s);
}

// Runs argv; on success returns its stdout, else records why in `inv` and returns nothing.
std::optional<std::string> RunFor(ProcessRunner& runner, std::vector<std::string> argv,
                                  const char* what, mailfleet::v1::Inventory& inv) {
  RunOptions run;
  run.argv = std::move(argv);
  run.timeout = std::chrono::seconds(10);
  auto result = runner.Run(run);
  if (!result.ok()) {
    inv.add_inventory_errors(fmt::format("{}: {}", what, result.status().message()));
    return std::nullopt;
  }
  if (!result->ok()) {
    inv.add_inventory_errors(
        fmt::format("{}: `{}` failed: {}", what, fmt::join(run.argv, " "), result->Describe()));
    return std::nullopt;
  }
  return result->out;
}

std::string OsPrettyName(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("PRETTY_NAME=")) {
      std::string value = line.substr(12);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
  }
  return "";
}

std::vector<std::string> InterfaceAddresses() {
  std::set<std::string> addresses;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return {};
  for (ifaddrs* ifa = list; ifa != nullptr; ifa = ifa->ifa_next) {
    if (ifa->ifa_addr == nullptr || (ifa->ifa_flags & IFF_LOOPBACK)) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (ifa->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(ifa->ifa_addr)->sin_addr, text,
                sizeof text);
    } else if (ifa->ifa_addr->sa_family == AF_INET6) {
      auto* a6 = reinterpret_cast<sockaddr_in6*>(ifa->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr)) continue;
      inet_ntop(AF_INET6, &a6->sin6_addr, text, sizeof text);
    } else {
      continue;
    }
    addresses.insert(text);
  }
  freeifaddrs(list);
  return {addresses.begin(), addresses.end()};
}

}  // namespace

mailfleet::v1::Inventory CollectInventory(ProcessRunner& runner, const InventoryOptions& options) {
  mailfleet::v1::Inventory inv;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  inv.set_hostname(host);
  for (auto& a : InterfaceAddresses()) inv.add_addresses(a);
  inv.set_os(OsPrettyName(options.os_release));
  utsname uts{};
  if (uname(&uts) == 0) inv.set_kernel(fmt::format("{} {}", uts.sysname, uts.release));
  inv.set_agent_version(kVersion);
  inv.set_postfix_config_dir(options.postfix_config_dir);
  inv.set_dovecot_config(options.dovecot_config);

  const std::string& pdir = options.postfix_config_dir;
  if (auto out =
          RunFor(runner, {"postconf", "-c", pdir, "-h", "mail_version"}, "postfix version", inv)) {
    inv.set_postfix_version(Trim(*out));
  }
  if (auto out = RunFor(runner, {"postconf", "-c", pdir, "-n"}, "postfix config", inv)) {
    inv.set_postfix_config_hash(Sha256Hex(*out));
  }
  // `dovecot --version` prints e.g. "2.3.19.1 (9b53102964)"; keep the version number. The
  // config is checked too, so a host whose Dovecot config does not load says so.
  if (RunFor(runner, {"doveconf", "-c", options.dovecot_config, "-h", "protocols"},
             "dovecot config", inv)) {
    if (auto out = RunFor(runner, {"dovecot", "--version"}, "dovecot version", inv)) {
      std::string v = Trim(*out);
      inv.set_dovecot_version(v.substr(0, v.find(' ')));
    }
  }
  return inv;
}

}  // namespace mailfleet::agent
