// mailfleet-collector: the central gRPC server on PostgreSQL.
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <thread>

#include "collector/server/agent_service.h"
#include "collector/server/control_service.h"
#include "collector/server/work_queue.h"
#include "collector/store/embedded_postgres.h"
#include "collector/store/pg_store.h"
#include "common/flags.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/version.h"
#include "fmt/ranges.h"
#include "grpcpp/server_builder.h"
#include "spdlog/spdlog.h"

namespace mailfleet::collector {
namespace {

struct CollectorConfig {
  std::vector<std::string> listen = {"127.0.0.1:7443"};
  std::string data_dir = "/var/lib/mailfleet-collector";
  std::string database;  // empty: the embedded cluster in data_dir
  std::string embedded_db_user = "postgres";
  std::string collector_id;
  int64_t heartbeat_interval = 5;
  int64_t stale_after = 20;
  int64_t db_connections = 8;
  int64_t retention_days = 30;
  std::string ready_file;
  std::string log_level = "info";
  TlsOptions tls;
};

absl::Status ReadConfigFile(TomlConfig& file, CollectorConfig& c) {
  RETURN_IF_ERROR(file.GetStrings("listen", &c.listen));
  RETURN_IF_ERROR(file.GetString("data_dir", &c.data_dir));
  RETURN_IF_ERROR(file.GetString("database", &c.database));
  RETURN_IF_ERROR(file.GetString("embedded_db_user", &c.embedded_db_user));
  RETURN_IF_ERROR(file.GetString("collector_id", &c.collector_id));
  RETURN_IF_ERROR(file.GetInt("heartbeat_interval_seconds", &c.heartbeat_interval));
  RETURN_IF_ERROR(file.GetInt("stale_after_seconds", &c.stale_after));
  RETURN_IF_ERROR(file.GetInt("db_connections", &c.db_connections));
  RETURN_IF_ERROR(file.GetInt("retention_days", &c.retention_days));
  RETURN_IF_ERROR(file.GetString("log_level", &c.log_level));
  RETURN_IF_ERROR(ReadTlsConfig(file, c.tls));
  return file.CheckAllKeysUsed();
}

absl::Status Run(const CollectorConfig& config, const sigset_t& signals) {
  if (config.heartbeat_interval < 1 || config.stale_after <= config.heartbeat_interval) {
    return absl::InvalidArgumentError(
        "--heartbeat-interval must be at least 1 and --stale-after longer than it");
  }
  if (config.db_connections < 1 || config.db_connections > 64) {
    return absl::InvalidArgumentError("--db-connections takes 1 to 64");
  }
  if (config.retention_days < 1)
    return absl::InvalidArgumentError("--retention-days must be at least 1");
  std::vector<HostPort> listen;
  for (const auto& address : config.listen) {
    ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(address));
    listen.push_back(hp);
  }
  ASSIGN_OR_RETURN(auto credentials, MakeServerCredentials(config.tls, listen));

  RealClock clock;
  RealProcessRunner runner;
  std::unique_ptr<EmbeddedPostgres> embedded;
  std::string conninfo = config.database;
  std::string database_label = RedactConninfo(config.database);
  if (conninfo.empty()) {
    ASSIGN_OR_RETURN(embedded,
                     EmbeddedPostgres::Start(
                         {.data_dir = config.data_dir, .run_as = config.embedded_db_user}, runner));
    conninfo = embedded->conninfo();
    database_label = "embedded:" + embedded->cluster_dir();
  }
  ASSIGN_OR_RETURN(
      auto store,
      PgStore::Create(conninfo, {.stale_after = std::chrono::seconds(config.stale_after),
                                 .pool_size = static_cast<int>(config.db_connections),
                                 .retention_days = static_cast<int>(config.retention_days)}));

  std::string collector_id = config.collector_id;
  if (collector_id.empty()) {
    char name[256] = {};
    gethostname(name, sizeof name - 1);
    collector_id = name;
  }
  WorkQueue queue(static_cast<int>(config.db_connections));
  AgentService agents(*store, queue, clock,
                      {.collector_id = collector_id,
                       .heartbeat_interval = std::chrono::seconds(config.heartbeat_interval),
                       .stale_after = std::chrono::seconds(config.stale_after)});
  Dispatcher dispatcher(*store, agents, clock, collector_id);
  RETURN_IF_ERROR(dispatcher.Start());
  agents.SetOnRegistered([&dispatcher] { dispatcher.Wake(); });
  ControlService control(*store, {.collector_id = collector_id, .database_label = database_label},
                         dispatcher);

  grpc::ServerBuilder builder;
  std::vector<int> ports(listen.size(), 0);
  for (size_t i = 0; i < listen.size(); ++i) {
    builder.AddListeningPort(config.listen[i], credentials, &ports[i]);
  }
  // Command results (a queue listing, a snapshot) may be larger than gRPC's default 4 MiB.
  builder.SetMaxReceiveMessageSize(16 << 20);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 20'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(&agents);
  builder.RegisterService(&control);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    return absl::UnavailableError(fmt::format(
        "could not listen on {}: is another process using the port, or is the address not "
        "on this machine?",
        fmt::join(config.listen, ", ")));
  }
  std::vector<std::string> bound;
  for (size_t i = 0; i < listen.size(); ++i) {
    if (ports[i] == 0) {
      return absl::UnavailableError(fmt::format("could not listen on {}", config.listen[i]));
    }
    bound.push_back(listen[i].port == 0 && !listen[i].host.starts_with("unix:")
                        ? fmt::format("{}:{}", listen[i].host, ports[i])
                        : config.listen[i]);
  }
  spdlog::info("mailfleet-collector {} ({}) listening on {}{}", kVersion, collector_id,
               fmt::join(bound, ", "), config.tls.insecure ? " WITHOUT TLS (--insecure)" : "");
  if (!config.ready_file.empty()) {
    std::ofstream ready(config.ready_file);
    ready << fmt::format("{}\n", fmt::join(bound, "\n"));
  }

  // Upkeep of the events table: retention drops whole day partitions past retention_days,
  // at start and every hour; every second, the index's new block ranges are summarised and
  // a partition that has rows but no statistics yet is analysed.
  std::atomic<bool> stopping{false};
  std::thread upkeep([&] {
    int64_t last_warned = -3600;
    for (int64_t second = 0; !stopping; ++second) {
      if (second % 3600 == 0) {
        auto dropped = store->DropExpiredPartitions(std::chrono::system_clock::now());
        if (!dropped.ok()) spdlog::warn("retention: {}", dropped.status().message());
        if (dropped.ok() && *dropped > 0)
          spdlog::info("retention: dropped {} day(s) of log lines", *dropped);
      }
      // Tried again in a second (a lock wait that timed out, most often); told once an hour.
      absl::Status upkept = store->SummarizeEvents().status();
      if (upkept.ok()) upkept = store->AnalyzeNewPartitions().status();
      if (!upkept.ok() && second - last_warned >= 3600) {
        spdlog::warn("events table upkeep: {}", upkept.message());
        last_warned = second;
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  });
  int sig = WaitForTerminationSignal(signals);
  stopping = true;
  upkeep.join();
  spdlog::info("signal {}: shutting down", sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server->Wait();
  queue.Stop();  // log batches still being stored finish while the services exist
  return absl::OkStatus();
}

}  // namespace
}  // namespace mailfleet::collector

int main(int argc, char** argv) {
  using namespace mailfleet;
  using namespace mailfleet::collector;
  sigset_t signals = BlockTerminationSignals();
  DisableMutexDeadlockDetection();

  CollectorConfig config;
  std::string config_path = FindConfigFlag(argc, argv);
  auto file = TomlConfig::Load(config_path);
  absl::Status loaded = file.ok() ? ReadConfigFile(*file, config) : file.status();
  if (!loaded.ok()) {
    std::cerr << "mailfleet-collector: " << loaded.message() << "\n";
    return 2;
  }

  CLI::App app{
      "mailfleet-collector: the central mailfleet server. Agents stream to it, the "
      "mailfleet CLI queries it; it keeps everything in PostgreSQL (its own embedded "
      "cluster in --data-dir unless --database is given).",
      "mailfleet-collector"};
  app.set_version_flag("--version", kVersion);
  app.add_option("--config", config_path, "TOML config file; flags override its keys");
  app.add_option("--listen", config.listen,
                 "ADDR:PORT to serve on; repeatable (default 127.0.0.1:7443) [listen]");
  app.add_option("--data-dir", config.data_dir,
                 "Folder for the embedded PostgreSQL cluster (default "
                 "/var/lib/mailfleet-collector) [data_dir]");
  app.add_option("--database", config.database,
                 "PostgreSQL to use instead of the embedded cluster: a libpq string or "
                 "postgresql:// URL [database]");
  app.add_option("--embedded-db-user", config.embedded_db_user,
                 "System user the embedded PostgreSQL runs as when the collector is root "
                 "(default postgres) [embedded_db_user]");
  app.add_option("--collector-id", config.collector_id,
                 "Name of this collector replica (default: host name) [collector_id]");
  app.add_option("--heartbeat-interval", config.heartbeat_interval,
                 "Seconds between agent heartbeats (default 5) [heartbeat_interval_seconds]");
  app.add_option("--stale-after", config.stale_after,
                 "Seconds without a message before an agent counts as disconnected (default 20) "
                 "[stale_after_seconds]");
  app.add_option("--db-connections", config.db_connections,
                 "PostgreSQL connections for queries, as many again for log ingest, and store "
                 "worker threads; default 8 [db_connections]");
  app.add_option("--retention-days", config.retention_days,
                 "Days of log lines kept, default 30 [retention_days]");
  app.add_option("--ready-file", config.ready_file,
                 "Write the bound addresses here once serving (for scripts)");
  app.add_option("--log-level", config.log_level,
                 "trace, debug, info, warn, error (default info) [log_level]");
  AddTlsFlags(app, config.tls);
  CLI11_PARSE(app, argc, argv);

  if (auto s = SetupLogging("collector", config.log_level); !s.ok()) {
    std::cerr << "mailfleet-collector: " << s.message() << "\n";
    return 2;
  }
  absl::Status status = Run(config, signals);
  if (!status.ok()) {
    spdlog::error("{}", status.message());
    return 1;
  }
  return 0;
}
