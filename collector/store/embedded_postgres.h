// The embedded default database: a private PostgreSQL cluster in the collector's data folder,
// created on first start with the system's initdb, started with pg_ctl (unix socket inside the
// folder, no TCP port), reused on the next start and stopped on shutdown. As root it runs as
// an unprivileged system user, since PostgreSQL refuses to run as root.
//   ASSIGN_OR_RETURN(auto pg, EmbeddedPostgres::Start({.data_dir = "/var/lib/mailfleet"}, runner));
//   PgStore::Create(pg->conninfo(), ...);
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/process_runner.h"

namespace mailfleet::collector {

struct EmbeddedPostgresOptions {
  std::string data_dir;             // the cluster lives in data_dir/postgres
  std::string run_as = "postgres";  // the system user when we are root
  std::string bin_dir;              // empty: the newest /usr/lib/postgresql/*/bin
  // How long to wait for another collector that holds data_dir (one still stopping) to let go.
  std::chrono::milliseconds lock_wait{60'000};
};

class EmbeddedPostgres {
 public:
  // Takes data_dir for this process (data_dir/collector.lock; another collector using it is
  // waited for up to lock_wait, then an error), initializes the cluster if needed, starts it
  // (or adopts one left running by a crashed collector), makes sure database "mailfleet"
  // exists and starts the watchdog. `runner` must outlive this.
  static absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> Start(
      const EmbeddedPostgresOptions& options, ProcessRunner& runner);
  ~EmbeddedPostgres();  // Stop(), then data_dir is let go

  // Stops the watchdog, then the server (fast shutdown). Idempotent.
  absl::Status Stop();

  // libpq connection string for database "mailfleet" over the private socket.
  std::string conninfo() const;
  const std::string& cluster_dir() const { return cluster_dir_; }

 private:
  EmbeddedPostgres(std::string bin_dir, std::string cluster_dir, RunOptions as_user,
                   ProcessRunner& runner)
      : bin_dir_(std::move(bin_dir)),
        cluster_dir_(std::move(cluster_dir)),
        as_user_(std::move(as_user)),
        runner_(runner) {}
  absl::StatusOr<RunResult> PgCtl(std::vector<std::string> args, std::chrono::seconds timeout);
  // The watchdog: a server that went away without Stop() (killed, crashed) is started again,
  // so the collector's connections come back instead of failing until someone restarts it.
  void Watch();
  bool ServerAlive() const;  // its postmaster.pid names a living process

  const std::string bin_dir_;
  const std::string cluster_dir_;
  const RunOptions as_user_;  // uid/gid/env for every server binary
  ProcessRunner& runner_;
  bool running_ = false;
  int lock_fd_ = -1;  // holds the flock on data_dir/collector.lock
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watchdog_;
};

}  // namespace mailfleet::collector
