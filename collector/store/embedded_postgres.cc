#include "collector/store/embedded_postgres.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "common/status_macros.h"
#include "common/thread_name.h"
#include "fmt/format.h"
#include "pqxx/pqxx"
#include "spdlog/spdlog.h"

namespace mailfleet::collector {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxSocketPath = 107;  // sizeof(sockaddr_un::sun_path) - 1

absl::StatusOr<std::string> FindBinDir(const std::string& configured) {
  if (!configured.empty()) {
    if (access((configured + "/pg_ctl").c_str(), X_OK) != 0) {
      return absl::NotFoundError(fmt::format("no pg_ctl in {}", configured));
    }
    return configured;
  }
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    std::string bin = entry.path().string() + "/bin";
    int major = std::atoi(entry.path().filename().c_str());
    if (major > 0 && access((bin + "/initdb").c_str(), X_OK) == 0 &&
        access((bin + "/pg_ctl").c_str(), X_OK) == 0) {
      found.emplace_back(major, bin);
    }
  }
  if (found.empty()) {
    return absl::FailedPreconditionError(
        "the embedded database needs the PostgreSQL server binaries (initdb, pg_ctl) under "
        "/usr/lib/postgresql/*/bin and none are installed: run `apt-get install postgresql`, "
        "or give --database URL to use an existing PostgreSQL server");
  }
  std::sort(found.begin(), found.end());
  return found.back().second;
}

std::string Tail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > max_bytes) text = text.substr(text.size() - max_bytes);
  return text;
}

// PostgreSQL running as `uid` must be able to walk down to `dir`.
absl::Status CheckReachable(const fs::path& dir, uid_t uid, const std::string& user) {
  for (fs::path p = dir.parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (stat(p.c_str(), &st) == 0 && st.st_uid != uid && (st.st_mode & S_IXOTH) == 0) {
      return absl::PermissionDeniedError(fmt::format(
          "the embedded PostgreSQL runs as user '{}' and cannot enter {} (mode {:o}): make it "
          "searchable (chmod o+x {}) or choose a --data-dir elsewhere, e.g. under /var/lib",
          user, p.string(), st.st_mode & 07777, p.string()));
    }
    if (p == p.root_path()) break;
  }
  return absl::OkStatus();
}

// One collector per data folder. A second one would find the first one's server running,
// take it for a crashed collector's and use it, until the first stopped it under both. The
// flock goes with the process, so a crashed collector leaves nothing to clean up; the file
// holds the pid of the collector that has it, for the message.
absl::StatusOr<int> LockDataDir(const fs::path& data_dir, std::chrono::milliseconds wait) {
  std::string path = (data_dir / "collector.lock").string();
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  auto deadline = std::chrono::steady_clock::now() + wait;
  bool told = false;
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      int err = errno;
      close(fd);
      return absl::InternalError(fmt::format("cannot lock {}: {}", path, std::strerror(err)));
    }
    char buf[32] = {};
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    std::string holder(buf, n > 0 ? static_cast<size_t>(n) : 0);
    holder.erase(std::remove(holder.begin(), holder.end(), '\n'), holder.end());
    std::string who = holder.empty() ? "another mailfleet-collector"
                                     : fmt::format("another mailfleet-collector (pid {})", holder);
    if (std::chrono::steady_clock::now() >= deadline) {
      close(fd);
      return absl::FailedPreconditionError(fmt::format(
          "{} is using --data-dir {} and its embedded PostgreSQL: stop it first, or give this "
          "collector another --data-dir",
          who, data_dir.string()));
    }
    if (!told) {
      spdlog::warn("{} is using --data-dir {}; waiting up to {} s for it to stop", who,
                   data_dir.string(),
                   std::chrono::duration_cast<std::chrono::seconds>(wait).count());
      told = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string pid = fmt::format("{}\n", getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    spdlog::warn("cannot write the pid to {}: {}", path, std::strerror(errno));
  }
  return fd;
}

// The server settings of the embedded cluster, for a store that mostly takes in COPY rows:
// the defaults (128 MB of buffers, 4 MB of WAL buffers) left the pipeline bench's backends
// waiting on WAL buffer space and evicting dirty pages, with 2-3 s of 14 s of CPU idle; with
// these, under 1.5 s, and 10% more events/s on average (8 runs each, side by side).
constexpr char kSettings[] =
    "# Written by mailfleet-collector at every start (changes here are lost); ALTER SYSTEM\n"
    "# (postgresql.auto.conf) overrides them.\n"
    "shared_buffers = 256MB\n"
    "wal_buffers = 16MB\n"
    "max_wal_size = 2GB\n"
    "wal_compression = on\n";  // pglz: every server version and build has it
constexpr char kIncludeSettings[] = "include_if_exists = 'mailfleet.conf'";

// Writes mailfleet.conf into the cluster and makes postgresql.conf include it, so that a
// cluster made by an earlier collector gets the settings too (at its next start).
absl::Status WriteSettings(const fs::path& cluster, const RunOptions& as_user) {
  fs::path settings = cluster / "mailfleet.conf";
  {
    std::ofstream out(settings, std::ios::trunc);
    out << kSettings;
    if (!out) return absl::InternalError(fmt::format("cannot write {}", settings.string()));
  }
  if (as_user.uid && chown(settings.c_str(), *as_user.uid, *as_user.gid) != 0) {
    return absl::PermissionDeniedError(fmt::format("cannot hand {} to the PostgreSQL user: {}",
                                                   settings.string(), std::strerror(errno)));
  }
  fs::path conf_path = cluster / "postgresql.conf";
  std::ifstream in(conf_path);
  std::string conf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (conf.find(kIncludeSettings) == std::string::npos) {
    std::ofstream out(conf_path, std::ios::app);
    out << "\n" << kIncludeSettings << "\n";
    if (!out) return absl::InternalError(fmt::format("cannot write {}", conf_path.string()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> EmbeddedPostgres::Start(
    const EmbeddedPostgresOptions& options, ProcessRunner& runner) {
  ASSIGN_OR_RETURN(std::string bin_dir, FindBinDir(options.bin_dir));
  if (options.data_dir.empty()) return absl::InvalidArgumentError("--data-dir is empty");
  std::error_code ec;
  fs::path data_dir = fs::absolute(options.data_dir, ec);
  fs::path cluster = data_dir / "postgres";
  if ((cluster / ".s.PGSQL.5432").string().size() > kMaxSocketPath) {
    return absl::InvalidArgumentError(fmt::format(
        "--data-dir {} is too long for a unix socket path (at most {} bytes in all); choose a "
        "shorter one",
        data_dir.string(), kMaxSocketPath - 24));
  }

  RunOptions as_user;
  as_user.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "LC_ALL=C.UTF-8"};
  uid_t uid = geteuid();
  std::string user_name = "the current user";
  if (uid == 0) {
    passwd* pw = getpwnam(options.run_as.c_str());
    if (pw == nullptr) {
      return absl::FailedPreconditionError(fmt::format(
          "running as root, the embedded PostgreSQL must run as an unprivileged user, and "
          "user '{}' does not exist: install the postgresql package (it creates 'postgres') "
          "or name another user with --embedded-db-user",
          options.run_as));
    }
    uid = pw->pw_uid;
    as_user.uid = pw->pw_uid;
    as_user.gid = pw->pw_gid;
    as_user.env.push_back(fmt::format("HOME={}", cluster.string()));
    user_name = options.run_as;
  }

  fs::create_directories(data_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        fmt::format("cannot create --data-dir {}: {}", data_dir.string(), ec.message()));
  }
  RETURN_IF_ERROR(CheckReachable(cluster, uid, user_name));
  ASSIGN_OR_RETURN(int lock_fd, LockDataDir(data_dir, options.lock_wait));
  auto pg = std::unique_ptr<EmbeddedPostgres>(
      new EmbeddedPostgres(bin_dir, cluster.string(), as_user, runner));
  pg->lock_fd_ = lock_fd;

  if (!fs::exists(cluster / "PG_VERSION")) {
    fs::create_directories(cluster, ec);
    if (ec || chmod(cluster.c_str(), 0700) != 0 ||
        (as_user.uid && chown(cluster.c_str(), *as_user.uid, *as_user.gid) != 0)) {
      return absl::PermissionDeniedError(
          fmt::format("cannot prepare {} for the embedded PostgreSQL", cluster.string()));
    }
    spdlog::info("creating the embedded PostgreSQL cluster in {}", cluster.string());
    RunOptions init = as_user;
    init.argv = {bin_dir + "/initdb",
                 "-D",
                 cluster.string(),
                 "-U",
                 "mailfleet",
                 "--auth=trust",
                 "-E",
                 "UTF8",
                 "--locale=C.UTF-8"};
    init.timeout = std::chrono::seconds(120);
    ASSIGN_OR_RETURN(RunResult r, runner.Run(init));
    if (!r.ok()) {
      return absl::InternalError(fmt::format("initdb in {} failed ({}); output:\n{}{}",
                                             cluster.string(), r.Describe(), r.out, r.err));
    }
    // No TCP at all; the socket lives beside the data and only its owner (and root) may use it.
    std::ofstream conf(cluster / "postgresql.conf", std::ios::app);
    conf << "\n# mailfleet embedded cluster\n"
         << "listen_addresses = ''\n"
         << "unix_socket_directories = '" << cluster.string() << "'\n"
         << "unix_socket_permissions = 0700\n"
         << "logging_collector = off\n";
    if (!conf) return absl::InternalError("cannot write postgresql.conf of the embedded cluster");
  }

  RETURN_IF_ERROR(WriteSettings(cluster, as_user));

  ASSIGN_OR_RETURN(RunResult status, pg->PgCtl({"status"}, std::chrono::seconds(10)));
  if (status.exit_code == 0) {
    // No other collector holds data_dir (the lock above), so whoever started it is gone.
    spdlog::warn(
        "the embedded PostgreSQL in {} was still running (left by an earlier "
        "collector); using it",
        cluster.string());
  } else {
    std::string log = (cluster / "server.log").string();
    ASSIGN_OR_RETURN(RunResult r,
                     pg->PgCtl({"start", "-w", "-t", "120", "-l", log}, std::chrono::seconds(130)));
    if (!r.ok()) {
      return absl::InternalError(
          fmt::format("the embedded PostgreSQL in {} did not start ({}); the end of {}:\n{}",
                      cluster.string(), r.Describe(), log, Tail(log, 2000)));
    }
    spdlog::info("embedded PostgreSQL started in {}", cluster.string());
  }
  pg->running_ = true;

  try {
    pqxx::connection admin(fmt::format("host={} dbname=postgres user=mailfleet", cluster.string()));
    pqxx::nontransaction tx(admin);
    if (tx.exec("SELECT 1 FROM pg_database WHERE datname = 'mailfleet'").empty()) {
      tx.exec("CREATE DATABASE mailfleet");
    }
  } catch (const std::exception& e) {
    return absl::InternalError(
        fmt::format("cannot create database 'mailfleet' in the embedded cluster: {}", e.what()));
  }
  pg->watchdog_ = std::thread([p = pg.get()] { p->Watch(); });
  return pg;
}

bool EmbeddedPostgres::ServerAlive() const {
  std::ifstream in(cluster_dir_ + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return false;
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

void EmbeddedPostgres::Watch() {
  NameThisThread("mf-pg-watch");
  std::string log = cluster_dir_ + "/server.log";
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(2))) {
    if (ServerAlive()) continue;
    mu_.Unlock();
    spdlog::error(
        "the embedded PostgreSQL in {} stopped without the collector asking; starting "
        "it again",
        cluster_dir_);
    auto r = PgCtl({"start", "-w", "-t", "60", "-l", log}, std::chrono::seconds(70));
    if (r.ok() && r->ok()) {
      spdlog::warn("the embedded PostgreSQL in {} runs again", cluster_dir_);
    } else {
      // Its old processes may still be going away; the next look tries again.
      spdlog::error("starting the embedded PostgreSQL in {} again failed ({}); the end of {}:\n{}",
                    cluster_dir_, r.ok() ? r->Describe() : std::string(r.status().message()), log,
                    Tail(log, 1000));
    }
    mu_.Lock();
  }
}

EmbeddedPostgres::~EmbeddedPostgres() {
  absl::Status s = Stop();
  if (!s.ok()) spdlog::error("{}", s.message());
  if (lock_fd_ >= 0) close(lock_fd_);  // only now may the next collector take data_dir
}

absl::StatusOr<RunResult> EmbeddedPostgres::PgCtl(std::vector<std::string> args,
                                                  std::chrono::seconds timeout) {
  RunOptions run = as_user_;
  run.argv = {bin_dir_ + "/pg_ctl", "-D", cluster_dir_};
  run.argv.insert(run.argv.end(), args.begin(), args.end());
  run.timeout = timeout;
  return runner_.Run(run);
}

absl::Status EmbeddedPostgres::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (watchdog_.joinable()) watchdog_.join();
  if (!running_) return absl::OkStatus();
  running_ = false;
  ASSIGN_OR_RETURN(RunResult r,
                   PgCtl({"stop", "-m", "fast", "-w", "-t", "60"}, std::chrono::seconds(70)));
  if (!r.ok()) {
    return absl::InternalError(fmt::format("stopping the embedded PostgreSQL in {} failed: {}",
                                           cluster_dir_, r.Describe()));
  }
  spdlog::info("embedded PostgreSQL stopped");
  return absl::OkStatus();
}

std::string EmbeddedPostgres::conninfo() const {
  return fmt::format("host={} dbname=mailfleet user=mailfleet", cluster_dir_);
}

}  // namespace mailfleet::collector
