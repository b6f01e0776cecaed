// The CLI's settings and its gRPC client of the collector's ControlService.
// Settings: flag > environment (MAILFLEET_*) > config file > built-in default.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/flags.h"
#include "common/status_macros.h"
#include "common/tls.h"
#include "grpcpp/create_channel.h"
#include "mailfleet/v1/control.grpc.pb.h"

namespace mailfleet::cli {

struct CliConfig {
  std::string collector = "127.0.0.1:7443";
  int64_t timeout_seconds = 10;
  TlsOptions tls;
};

// The config file: --config, else $MAILFLEET_CONFIG, else ~/.config/mailfleet/cli.toml or
// /etc/mailfleet/cli.toml when they exist.
inline std::string DefaultConfigPath(const std::string& from_flag) {
  if (!from_flag.empty()) return from_flag;
  if (const char* env = std::getenv("MAILFLEET_CONFIG"); env != nullptr && *env) return env;
  if (const char* home = std::getenv("HOME"); home != nullptr) {
    std::string user = std::string(home) + "/.config/mailfleet/cli.toml";
    if (std::filesystem::exists(user)) return user;
  }
  if (std::filesystem::exists("/etc/mailfleet/cli.toml")) return "/etc/mailfleet/cli.toml";
  return "";
}

inline absl::Status LoadSettings(const std::string& path, CliConfig& c) {
  ASSIGN_OR_RETURN(TomlConfig file, TomlConfig::Load(path));
  RETURN_IF_ERROR(file.GetString("collector", &c.collector));
  RETURN_IF_ERROR(file.GetInt("timeout_seconds", &c.timeout_seconds));
  RETURN_IF_ERROR(ReadTlsConfig(file, c.tls));
  RETURN_IF_ERROR(file.CheckAllKeysUsed());
  auto env = [](const char* name, std::string& into) {
    if (const char* v = std::getenv(name); v != nullptr && *v) into = v;
  };
  env("MAILFLEET_COLLECTOR", c.collector);
  env("MAILFLEET_TLS_CA", c.tls.ca_file);
  env("MAILFLEET_TLS_CERT", c.tls.cert_file);
  env("MAILFLEET_TLS_KEY", c.tls.key_file);
  if (const char* v = std::getenv("MAILFLEET_INSECURE"); v != nullptr && std::string(v) == "1") {
    c.tls.insecure = true;
  }
  return absl::OkStatus();
}

// Turns a failed call's status into a sentence for people.
inline absl::Status ExplainCallError(const std::string& collector, const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::NOT_FOUND ||
      status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
      status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  return absl::UnavailableError(
      ExplainConnectError(collector, status.error_code(), status.error_message()));
}

class Client {
 public:
  static absl::StatusOr<Client> Connect(const CliConfig& config) {
    ASSIGN_OR_RETURN(HostPort target, ParseHostPort(config.collector));
    ASSIGN_OR_RETURN(auto credentials, MakeChannelCredentials(config.tls, target));
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(512 << 20);  // `logs --limit 1000000` answers are large
    return Client(config, mailfleet::v1::ControlService::NewStub(
                              grpc::CreateCustomChannel(config.collector, credentials, args)));
  }

  mailfleet::v1::ControlService::Stub& stub() { return *stub_; }
  const CliConfig& config() const { return config_; }

  // Calls `method` on the stub with a deadline; errors become sentences for people.
  template <typename Request, typename Response, typename Method>
  absl::Status Call(Method method, const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(config_.timeout_seconds));
    grpc::Status status = ((*stub_).*method)(&context, request, response);
    if (status.ok()) return absl::OkStatus();
    return ExplainCallError(config_.collector, status);
  }

 private:
  Client(CliConfig config, std::unique_ptr<mailfleet::v1::ControlService::Stub> stub)
      : config_(std::move(config)), stub_(std::move(stub)) {}
  CliConfig config_;
  std::unique_ptr<mailfleet::v1::ControlService::Stub> stub_;
};

}  // namespace mailfleet::cli
