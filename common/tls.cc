#include "common/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "fmt/format.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/support/status.h"

namespace mailfleet {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  if (path.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "{} is not set: give the fleet's TLS files (made by `mailfleet-pki DIR init` and "
        "`mailfleet-pki DIR issue ...`), or --insecure for a loopback-only test",
        flag));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        fmt::format("{} {}: cannot read the file ({})", flag, path, std::strerror(errno)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (buffer.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        fmt::format("{} {}: not a PEM file (no -----BEGIN line)", flag, path));
  }
  return buffer.str();
}

struct Pems {
  std::string ca, cert, key;
};

// Reads the three files and checks that the key belongs to the certificate, so a mix-up
// is reported at start instead of as a handshake failure on the other side.
absl::StatusOr<Pems> LoadPems(const TlsOptions& tls) {
  Pems pems;
  auto ca = ReadPem(tls.ca_file, "--tls-ca");
  if (!ca.ok()) return ca.status();
  auto cert = ReadPem(tls.cert_file, "--tls-cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(tls.key_file, "--tls-key");
  if (!key.ok()) return key.status();
  pems = {*std::move(ca), *std::move(cert), *std::move(key)};

  BIO* cert_bio = BIO_new_mem_buf(pems.cert.data(), static_cast<int>(pems.cert.size()));
  X509* x509 = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  BIO* key_bio = BIO_new_mem_buf(pems.key.data(), static_cast<int>(pems.key.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  absl::Status status;
  if (x509 == nullptr) {
    status = absl::InvalidArgumentError(
        fmt::format("--tls-cert {}: not a readable X.509 certificate", tls.cert_file));
  } else if (pkey == nullptr) {
    status = absl::InvalidArgumentError(
        fmt::format("--tls-key {}: not a readable unencrypted private key", tls.key_file));
  } else if (X509_check_private_key(x509, pkey) != 1) {
    status = absl::InvalidArgumentError(fmt::format(
        "--tls-key {} does not belong to --tls-cert {}; pass the .key written next to that "
        ".crt by mailfleet-pki",
        tls.key_file, tls.cert_file));
  } else if (X509_cmp_current_time(X509_get0_notAfter(x509)) <= 0) {
    status = absl::FailedPreconditionError(
        fmt::format("--tls-cert {} has expired; issue a new one with `mailfleet-pki DIR issue ...`",
                    tls.cert_file));
  }
  ERR_clear_error();
  X509_free(x509);
  EVP_PKEY_free(pkey);
  if (!status.ok()) return status;
  return pems;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& tls, const std::vector<HostPort>& listen) {
  if (tls.insecure) {
    for (const auto& hp : listen) {
      if (!IsLoopbackHost(hp.host)) {
        return absl::InvalidArgumentError(fmt::format(
            "--insecure refused: {} is not a loopback address; plaintext is only for tests on "
            "127.0.0.1 or ::1. Give --tls-ca, --tls-cert and --tls-key instead",
            hp.host));
      }
    }
    return grpc::InsecureServerCredentials();
  }
  auto pems = LoadPems(tls);
  if (!pems.ok()) return pems.status();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = pems->ca;
  options.pem_key_cert_pairs.push_back({pems->key, pems->cert});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsOptions& tls, const HostPort& target) {
  if (tls.insecure) {
    if (!IsLoopbackHost(target.host)) {
      return absl::InvalidArgumentError(fmt::format(
          "--insecure refused: {} is not a loopback address; plaintext is only for tests on "
          "127.0.0.1 or ::1. Give --tls-ca, --tls-cert and --tls-key instead",
          target.host));
    }
    return grpc::InsecureChannelCredentials();
  }
  auto pems = LoadPems(tls);
  if (!pems.ok()) return pems.status();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = pems->ca;
  options.pem_private_key = pems->key;
  options.pem_cert_chain = pems->cert;
  return grpc::SslCredentials(options);
}

PeerIdentity IdentifyPeer(const grpc::AuthContext& context) {
  PeerIdentity peer;
  peer.authenticated = context.IsPeerAuthenticated();
  for (const auto& value : context.FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
    peer.common_name.assign(value.data(), value.size());
  }
  for (const auto& value : context.FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME)) {
    std::string_view subject(value.data(), value.size());
    // RFC 2253 form, e.g. "CN=h1,OU=agent,O=mailfleet"; our names contain no commas.
    while (!subject.empty()) {
      auto comma = subject.find(',');
      std::string_view part = subject.substr(0, comma);
      if (part.starts_with("OU=")) peer.role = std::string(part.substr(3));
      if (comma == std::string_view::npos) break;
      subject.remove_prefix(comma + 1);
    }
  }
  return peer;
}

std::string ExplainConnectError(const std::string& target, int grpc_code,
                                const std::string& grpc_message) {
  const std::string& m = grpc_message;
  auto has = [&](std::string_view s) { return m.find(s) != std::string::npos; };
  if (has("CERTIFICATE_VERIFY_FAILED") || has("certificate verify failed")) {
    return fmt::format(
        "the collector at {} presented a certificate that --tls-ca does not trust; use the "
        "ca.crt of the fleet that issued the collector's certificate ({})",
        target, m);
  }
  if (has("alert") || has("handshake") || has("Handshake") || has("SSL")) {
    return fmt::format(
        "TLS handshake with {} failed: the collector refused this program's certificate or "
        "speaks plaintext. Check that --tls-cert was issued by the collector's fleet CA "
        "(mailfleet-pki DIR issue client|agent NAME) ({})",
        target, m);
  }
  if (has("Socket closed") || has("Connection reset by peer")) {
    // With TLS 1.3 a server that rejects the client's certificate just closes the socket
    // after the handshake; the client sees no alert.
    return fmt::format(
        "the collector at {} closed the connection: most often it refused this program's "
        "certificate (--tls-cert must be issued by the fleet CA the collector trusts, with "
        "mailfleet-pki DIR issue client|agent NAME), or it is shutting down ({})",
        target, m);
  }
  if (grpc_code == grpc::StatusCode::UNAVAILABLE) {
    return fmt::format(
        "cannot reach the collector at {}: is mailfleet-collector running and listening "
        "there? Set the address with --collector or MAILFLEET_COLLECTOR ({})",
        target, m);
  }
  if (grpc_code == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return fmt::format("the collector at {} did not answer in time ({})", target, m);
  }
  if (grpc_code == grpc::StatusCode::PERMISSION_DENIED ||
      grpc_code == grpc::StatusCode::UNAUTHENTICATED) {
    return fmt::format("the collector at {} refused this caller: {}", target, m);
  }
  return fmt::format("collector at {}: {}", target, m);
}

}  // namespace mailfleet
