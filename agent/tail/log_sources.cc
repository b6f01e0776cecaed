#include "agent/tail/log_sources.h"

#include "common/absl_fmt.h"
#include "fmt/format.h"

namespace mailfleet::agent {
namespace {

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
  return line;
}

}  // namespace

LogSourceDefaults DefaultLogFiles(ProcessRunner& runner, const std::string& postfix_config_dir,
                                  const std::string& dovecot_config,
                                  bool (*exists)(const std::string&)) {
  LogSourceDefaults out;
  auto postconf =
      runner.Run({.argv = {"postconf", "-c", postfix_config_dir, "-h", "maillog_file"}});
  std::string maillog = postconf.ok() && postconf->ok() ? FirstLine(postconf->out) : "";
  if (!maillog.empty() && maillog.starts_with("/") && !maillog.starts_with("/dev/")) {
    out.paths.push_back(maillog);
    out.notes.push_back(fmt::format("postfix maillog_file = {}", maillog));
  } else {
    bool found = false;
    for (const char* path : {"/var/log/mail.log", "/var/log/maillog"}) {
      if (exists(path)) {
        out.paths.emplace_back(path);
        found = true;
      }
    }
    if (!found) out.paths.emplace_back("/var/log/mail.log");  // followed once it appears
    out.notes.push_back(
        postconf.ok() ? "postfix logs to syslog: following the distribution's mail log"
                      : fmt::format("postconf failed ({}): following the distribution's mail log",
                                    postconf.status().message()));
  }
  auto doveconf = runner.Run({.argv = {"doveconf", "-c", dovecot_config, "-h", "log_path"}});
  std::string log_path = doveconf.ok() && doveconf->ok() ? FirstLine(doveconf->out) : "";
  if (log_path.starts_with("/") && !log_path.starts_with("/dev/")) {
    out.paths.push_back(log_path);
    out.notes.push_back(fmt::format("dovecot log_path = {}", log_path));
  }
  return out;
}

}  // namespace mailfleet::agent
