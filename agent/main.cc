// mailfleet-agent: the daemon on every mail host. Dials the collector and keeps one stream.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/synchronization/notification.h"
#include "agent/exec/action_runner.h"
#include "agent/exec/command_executor.h"
#include "agent/inventory/inventory.h"
#include "agent/tail/file_watcher.h"
#include "agent/tail/log_sources.h"
#include "agent/tail/tailer.h"
#include "agent/uplink/uplink.h"
#include "common/files.h"
#include "common/flags.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/thread_name.h"
#include "common/version.h"
#include "fmt/ranges.h"
#include "spdlog/spdlog.h"

namespace mailfleet::agent {
namespace {

struct AgentConfig {
  std::string collector = "127.0.0.1:7443";
  std::string name;  // default: the host name
  std::string postfix_config_dir = "/etc/postfix";
  std::string dovecot_config = "/etc/dovecot/dovecot.conf";
  std::string state_dir = "/var/lib/mailfleet-agent";
  std::vector<std::string> log_files;  // in addition to the defaults
  bool default_logs = true;
  bool start_at_end = false;
  std::string auth_probe_file;  // "user:password" for diagnose's auth.dovecot
  std::vector<std::string> maildir_users;
  std::vector<std::string> forbid;  // risk classes this agent refuses
  std::string service_manager = "auto";
  std::string log_level = "info";
  TlsOptions tls;
};

absl::Status ReadConfigFile(TomlConfig& file, AgentConfig& c) {
  RETURN_IF_ERROR(file.GetString("collector", &c.collector));
  RETURN_IF_ERROR(file.GetString("name", &c.name));
  RETURN_IF_ERROR(file.GetString("postfix_config_dir", &c.postfix_config_dir));
  RETURN_IF_ERROR(file.GetString("dovecot_config", &c.dovecot_config));
  RETURN_IF_ERROR(file.GetString("state_dir", &c.state_dir));
  RETURN_IF_ERROR(file.GetStrings("logs.files", &c.log_files));
  RETURN_IF_ERROR(file.GetBool("logs.defaults", &c.default_logs));
  RETURN_IF_ERROR(file.GetBool("logs.start_at_end", &c.start_at_end));
  RETURN_IF_ERROR(file.GetStrings("actions.forbid", &c.forbid));
  RETURN_IF_ERROR(file.GetString("diagnose.auth_probe_file", &c.auth_probe_file));
  RETURN_IF_ERROR(file.GetStrings("diagnose.maildir_users", &c.maildir_users));
  RETURN_IF_ERROR(file.GetString("actions.service_manager", &c.service_manager));
  RETURN_IF_ERROR(file.GetString("log_level", &c.log_level));
  RETURN_IF_ERROR(ReadTlsConfig(file, c.tls));
  return file.CheckAllKeysUsed();
}

absl::Status Run(AgentConfig config, const sigset_t& signals) {
  ASSIGN_OR_RETURN(HostPort target, ParseHostPort(config.collector));
  ASSIGN_OR_RETURN(auto credentials, MakeChannelCredentials(config.tls, target));
  if (config.name.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    config.name = host;
  }
  std::error_code ec;
  std::filesystem::create_directories(config.state_dir, ec);
  if (ec || access(config.state_dir.c_str(), W_OK) != 0) {
    return absl::PermissionDeniedError(
        fmt::format("--state-dir {}: cannot create or write it ({}); choose a writable folder",
                    config.state_dir, ec ? ec.message() : std::strerror(errno)));
  }
  chmod(config.state_dir.c_str(), 0700);

  ActionRunnerOptions action_options{.postfix_config_dir = config.postfix_config_dir,
                                     .dovecot_config = config.dovecot_config,
                                     .state_dir = config.state_dir,
                                     .agent_name = config.name,
                                     .maildir_users = config.maildir_users};
  if (!config.auth_probe_file.empty()) {
    auto text = ReadFile(config.auth_probe_file, 4096);
    if (!text.ok())
      return absl::InvalidArgumentError(
          fmt::format("diagnose.auth_probe_file: {}", text.status().message()));
    std::string line = text->substr(0, text->find('\n'));
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      return absl::InvalidArgumentError(fmt::format(
          "diagnose.auth_probe_file {}: write one line, user:password", config.auth_probe_file));
    }
    action_options.auth_probe_user = line.substr(0, colon);
    action_options.auth_probe_password = line.substr(colon + 1);
  }
  for (const auto& name : config.forbid) {
    auto risk = actions::ParseRisk(name);
    if (!risk.ok())
      return absl::InvalidArgumentError(fmt::format("actions.forbid: {}", risk.status().message()));
    action_options.forbidden.insert(*risk);
  }
  for (auto& path : config.log_files) {
    if (path.empty()) {
      return absl::InvalidArgumentError(
          "--log-file (logs.files) has an empty path: give a file or a glob such as "
          "/var/log/mail*.log");
    }
    // The agent may be started from anywhere (systemd starts it in /): a relative path is
    // taken from where it was started, once.
    if (path.front() != '/') {
      std::error_code ec;
      auto absolute = std::filesystem::absolute(path, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            fmt::format("--log-file {}: {}; give an absolute path", path, ec.message()));
      }
      path = absolute.string();
    }
  }
  if (config.service_manager == "auto") {
    // systemd manages the default instance; any other instance is started by its own command.
    action_options.use_systemd = access("/run/systemd/system", F_OK) == 0 &&
                                 config.postfix_config_dir == "/etc/postfix" &&
                                 config.dovecot_config == "/etc/dovecot/dovecot.conf";
  } else if (config.service_manager == "systemd" || config.service_manager == "direct") {
    action_options.use_systemd = config.service_manager == "systemd";
  } else {
    return absl::InvalidArgumentError(fmt::format(
        "actions.service_manager '{}': use auto, systemd or direct", config.service_manager));
  }

  RealClock clock;
  RealProcessRunner runner;
  InventoryOptions inventory_options{.postfix_config_dir = config.postfix_config_dir,
                                     .dovecot_config = config.dovecot_config};

  std::vector<std::string> log_files;
  if (config.default_logs) {
    auto defaults =
        DefaultLogFiles(runner, config.postfix_config_dir, config.dovecot_config,
                        [](const std::string& p) { return access(p.c_str(), F_OK) == 0; });
    for (const auto& note : defaults.notes) spdlog::info("logs: {}", note);
    log_files = defaults.paths;
  }
  log_files.insert(log_files.end(), config.log_files.begin(), config.log_files.end());
  std::string checkpoint_path = config.state_dir + "/checkpoint";
  ASSIGN_OR_RETURN(Checkpoint checkpoint, LoadCheckpoint(checkpoint_path));
  Tailer tailer({.paths = log_files, .start_at_end = config.start_at_end}, checkpoint, clock);
  LogShipper shipper(tailer, {.checkpoint_path = checkpoint_path}, clock);
  spdlog::info("logs: following {}", fmt::join(log_files, ", "));

  // inotify wakes the uplink as soon as a log file changes; polling stays as the fallback.
  std::atomic<Uplink*> wake_target{nullptr};
  std::atomic<CommandExecutor*> executor_target{nullptr};
  auto watcher = std::make_unique<FileWatcher>(tailer.WatchDirs(), [&wake_target] {
    Uplink* u = wake_target.load();
    return u != nullptr ? u->Wake() : std::chrono::milliseconds(0);
  });
  const bool watching = watcher->status().ok();
  if (!watching) spdlog::warn("logs: {}", watcher->status().message());
  Uplink uplink(
      {.target = config.collector,
       .credentials = credentials,
       .agent_name = config.name,
       .shipper = &shipper,
       .poll_interval = std::chrono::milliseconds(watching ? 1000 : 100),
       .on_command =
           [&executor_target](const mailfleet::v1::Command& command) {
             if (CommandExecutor* e = executor_target.load()) e->Submit(command);
           },
       .on_cancel =
           [&executor_target](const std::string& id) {
             if (CommandExecutor* e = executor_target.load()) e->Cancel(id);
           }},
      [&, reported = std::vector<std::string>()]() mutable {
        // Collected again for every stream: while the collector is away, every retry would
        // repeat the same warnings. Each is logged when it first appears.
        auto inv = CollectInventory(runner, inventory_options);
        std::vector<std::string> errors(inv.inventory_errors().begin(),
                                        inv.inventory_errors().end());
        for (const auto& e : errors) {
          if (std::find(reported.begin(), reported.end(), e) == reported.end()) {
            spdlog::warn("inventory: {}", e);
          }
        }
        reported = std::move(errors);
        return inv;
      },
      clock);
  spdlog::info("mailfleet-agent {} as '{}', collector {}, postfix -c {}, dovecot -c {}", kVersion,
               config.name, config.collector, config.postfix_config_dir, config.dovecot_config);
  ActionRunner actions(runner, clock, action_options);
  // Results wait in the uplink's outbox until a stream can carry them.
  auto executor = std::make_unique<CommandExecutor>(actions, 4, [&uplink](auto result) {
    mailfleet::v1::AgentMessage message;
    *message.mutable_command_result() = std::move(result);
    uplink.Send(std::move(message));
  });
  executor_target = executor.get();
  // Temporary debug logging ends on time, also when it began before a restart of this agent.
  absl::Notification stop_expiry;
  std::thread expiry([&] {
    NameThisThread("mf-debug-expiry");
    do {
      actions.RevertExpiredDebug();
    } while (!stop_expiry.WaitForNotificationWithTimeout(absl::Seconds(1)));
  });
  if (!action_options.forbidden.empty()) {
    std::vector<std::string_view> names;
    for (auto r : action_options.forbidden) names.push_back(actions::RiskName(r));
    spdlog::info("actions: refusing {} actions", fmt::join(names, ", "));
  }
  wake_target = &uplink;
  std::thread uplink_thread([&] {
    NameThisThread("mf-uplink");
    uplink.Run();
  });
  int sig = WaitForTerminationSignal(signals);
  spdlog::info("signal {}: stopping", sig);
  uplink.Stop();
  uplink_thread.join();
  executor_target = nullptr;
  executor.reset();
  stop_expiry.Notify();
  expiry.join();
  watcher.reset();  // its thread may call uplink.Wake(): it ends before the uplink does
  return shipper.SaveNow();
}

}  // namespace
}  // namespace mailfleet::agent

int main(int argc, char** argv) {
  using namespace mailfleet;
  using namespace mailfleet::agent;
  sigset_t signals = BlockTerminationSignals();
  DisableMutexDeadlockDetection();

  AgentConfig config;
  std::string config_path = FindConfigFlag(argc, argv);
  auto file = TomlConfig::Load(config_path);
  absl::Status loaded = file.ok() ? ReadConfigFile(*file, config) : file.status();
  if (!loaded.ok()) {
    std::cerr << "mailfleet-agent: " << loaded.message() << "\n";
    return 2;
  }

  CLI::App app{
      "mailfleet-agent: runs on every mail host; streams its inventory, its mail logs and the "
      "results of the commands it runs to the collector over one TLS connection it dials.",
      "mailfleet-agent"};
  app.set_version_flag("--version", kVersion);
  app.add_option("--config", config_path, "TOML config file; flags override its keys");
  app.add_option("--collector", config.collector,
                 "Collector HOST:PORT (default 127.0.0.1:7443) [collector]");
  app.add_option("--name", config.name,
                 "This host's fleet name; must match its certificate's CN (default: host name) "
                 "[name]");
  app.add_option("--postfix-config-dir", config.postfix_config_dir,
                 "Postfix config directory, passed as -c to every Postfix command (default "
                 "/etc/postfix) [postfix_config_dir]");
  app.add_option("--dovecot-config", config.dovecot_config,
                 "Dovecot config file, passed as -c (default /etc/dovecot/dovecot.conf) "
                 "[dovecot_config]");
  app.add_option("--state-dir", config.state_dir,
                 "Folder for the agent's state (default /var/lib/mailfleet-agent) [state_dir]");
  app.add_option("--log-file", config.log_files,
                 "Another log file to follow (repeatable; globs allowed; a relative path is "
                 "taken from the folder the agent starts in) [logs.files]");
  app.add_flag("!--no-default-logs", config.default_logs,
               "Do not follow the default files (the maillog_file of Postfix and of each "
               "instance in its multi_instance_directories, or /var/log/mail.log, and "
               "Dovecot's log_path) [logs.defaults = false]");
  app.add_flag("--start-at-end", config.start_at_end,
               "On the very first start, skip what the files hold already [logs.start_at_end]");
  app.add_option("--log-level", config.log_level,
                 "trace, debug, info, warn, error (default info) [log_level]");
  app.add_option("--auth-probe-file", config.auth_probe_file,
                 "File with one line user:password: a test account diagnose logs in with "
                 "(auth.dovecot) [diagnose.auth_probe_file]");
  app.add_option("--maildir-user", config.maildir_users,
                 "A user whose Maildir diagnose checks (repeatable; default: a sample of the "
                 "userdb) [diagnose.maildir_users]");
  app.add_option("--forbid-actions", config.forbid,
                 "Refuse actions of this risk class, whoever asks: change or destructive "
                 "(repeatable) [actions.forbid]");
  app.add_option("--service-manager", config.service_manager,
                 "How to start/stop/reload Postfix and Dovecot: systemd (systemctl), direct "
                 "(postfix -c DIR, dovecot -c FILE), or auto: systemd when it runs and the "
                 "default config paths are used (default auto) [actions.service_manager]");
  AddTlsFlags(app, config.tls);
  CLI11_PARSE(app, argc, argv);

  if (auto s = SetupLogging("agent", config.log_level); !s.ok()) {
    std::cerr << "mailfleet-agent: " << s.message() << "\n";
    return 2;
  }
  absl::Status status = Run(config, signals);
  if (!status.ok()) {
    spdlog::error("{}", status.message());
    return 1;
  }
  return 0;
}
