// Flags and config keys that every program shares: the TLS files and --insecure.
// CLI11 binds them to a TlsOptions; TOML keys tls.ca, tls.cert, tls.key, tls.insecure.
#pragma once

#include <csignal>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "common/config.h"
#include "common/tls.h"

namespace mailfleet {

inline void AddTlsFlags(CLI::App& app, TlsOptions& tls) {
  app.add_option("--tls-ca", tls.ca_file, "Fleet CA certificate (PEM) [tls.ca]");
  app.add_option("--tls-cert", tls.cert_file, "This program's certificate (PEM) [tls.cert]");
  app.add_option("--tls-key", tls.key_file, "This program's private key (PEM) [tls.key]");
  app.add_flag("--insecure", tls.insecure,
               "Plaintext, for tests on loopback only; refused for any other address "
               "[tls.insecure]");
}

inline absl::Status ReadTlsConfig(TomlConfig& file, TlsOptions& tls) {
  if (auto s = file.GetString("tls.ca", &tls.ca_file); !s.ok()) return s;
  if (auto s = file.GetString("tls.cert", &tls.cert_file); !s.ok()) return s;
  if (auto s = file.GetString("tls.key", &tls.key_file); !s.ok()) return s;
  return file.GetBool("tls.insecure", &tls.insecure);
}

// Blocks the termination signals in this thread and every thread it starts afterwards, so
// main() can wait for them with WaitForTerminationSignal(). Call first thing in main().
inline sigset_t BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

// Debian builds abseil without NDEBUG, which leaves absl::Mutex's deadlock detection on: a
// lookup in one global lock graph on every Lock, in our code and in gRPC's. The daemons turn
// it off at start; the tests keep it.
inline void DisableMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

inline int WaitForTerminationSignal(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace mailfleet
