#include "agent/tail/log_sources.h"

#include <algorithm>

#include "common/absl_fmt.h"
#include "common/text.h"
#include "fmt/format.h"

namespace mailfleet::agent {
namespace {

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
  return line;
}

// A log setting that names a file we can follow (not syslog, not stdout or /dev/...).
bool IsFile(const std::string& value) {
  return value.starts_with("/") && !value.starts_with("/dev/");
}

// `postconf -c DIR -x -h NAME`: the parameter's value with $names expanded, or an error.
absl::StatusOr<std::string> Postconf(ProcessRunner& runner, const std::string& dir,
                                     const std::string& name) {
  auto run = runner.Run({.argv = {"postconf", "-c", dir, "-x", "-h", name}});
  if (!run.ok()) return run.status();
  if (!run->ok()) return absl::UnavailableError(run->Describe());
  return FirstLine(run->out);
}

void AddPath(LogSourceDefaults& out, const std::string& path) {
  if (std::find(out.paths.begin(), out.paths.end(), path) == out.paths.end()) {
    out.paths.push_back(path);
  }
}

}  // namespace

LogSourceDefaults DefaultLogFiles(ProcessRunner& runner, const std::string& postfix_config_dir,
                                  const std::string& dovecot_config,
                                  bool (*exists)(const std::string&)) {
  LogSourceDefaults out;
  // The instance the agent manages, then any secondary instances postmulti knows of
  // (multi_instance_directories): each logs to its own maillog_file, or to syslog.
  std::vector<std::string> instances = {postfix_config_dir};
  auto secondaries = Postconf(runner, postfix_config_dir, "multi_instance_directories");
  if (secondaries.ok()) {
    for (const std::string& dir : SplitFields(*secondaries, " ,\t")) {
      if (dir != postfix_config_dir) instances.push_back(dir);
    }
  }
  bool syslog = false;
  for (const std::string& dir : instances) {
    auto maillog = Postconf(runner, dir, "maillog_file");
    if (!maillog.ok()) {
      out.notes.push_back(fmt::format("postconf -c {} failed ({}): assuming it logs to syslog", dir,
                                      maillog.status().message()));
      syslog = true;
    } else if (IsFile(*maillog)) {
      AddPath(out, *maillog);
      out.notes.push_back(fmt::format("postfix {}: maillog_file = {}", dir, *maillog));
    } else {
      out.notes.push_back(fmt::format("postfix {}: logs to syslog", dir));
      syslog = true;
    }
  }
  if (syslog) {
    bool found = false;
    for (const char* path : {"/var/log/mail.log", "/var/log/maillog"}) {
      if (exists(path)) {
        AddPath(out, path);
        found = true;
      }
    }
    if (!found) AddPath(out, "/var/log/mail.log");  // followed once it appears
    out.notes.push_back("following the distribution's mail log for what goes to syslog");
  }
  auto doveconf = runner.Run({.argv = {"doveconf", "-c", dovecot_config, "-h", "log_path"}});
  std::string log_path = doveconf.ok() && doveconf->ok() ? FirstLine(doveconf->out) : "";
  if (IsFile(log_path)) {
    AddPath(out, log_path);
    out.notes.push_back(fmt::format("dovecot log_path = {}", log_path));
  }
  return out;
}

}  // namespace mailfleet::agent
