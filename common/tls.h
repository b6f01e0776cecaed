// TLS for every mailfleet connection: the fleet CA, a certificate and key per program, and
// plaintext only with an explicit --insecure on a loopback address. The certificates come
// from deploy/pki/mailfleet-pki: CN = the name, OU = the role (collector, agent, client).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/address.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace mailfleet {

struct TlsOptions {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool insecure = false;  // plaintext; refused unless every address involved is loopback
};

// The collector's credentials: requires and verifies client certificates signed by the CA.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& tls, const std::vector<HostPort>& listen);

// An agent's or the CLI's credentials towards `target`; verifies the collector against the CA.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsOptions& tls, const HostPort& target);

// Who is on the other end of a call, from its verified client certificate.
struct PeerIdentity {
  std::string common_name;
  std::string role;  // the OU: "agent", "client" or "collector"; empty when plaintext
  bool authenticated = false;
};
PeerIdentity IdentifyPeer(const grpc::AuthContext& context);

// Turns a gRPC failure towards the collector into a sentence that says what to do.
std::string ExplainConnectError(const std::string& target, int grpc_code,
                                const std::string& grpc_message);

}  // namespace mailfleet
