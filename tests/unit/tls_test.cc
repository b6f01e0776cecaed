#include "common/tls.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace mailfleet {
namespace {

TEST(TlsTest, InsecureIsRefusedTowardsANonLoopbackCollector) {
  auto creds = MakeChannelCredentials({.insecure = true}, {"198.18.0.1", 7443});
  ASSERT_FALSE(creds.ok());
  EXPECT_NE(creds.status().message().find("--insecure refused"), std::string::npos);
  EXPECT_NE(creds.status().message().find("198.18.0.1"), std::string::npos);
}

TEST(TlsTest, InsecureIsRefusedWhenAnyListenAddressIsNotLoopback) {
  auto creds = MakeServerCredentials({.insecure = true}, {{"127.0.0.1", 1}, {"0.0.0.0", 2}});
  ASSERT_FALSE(creds.ok());
  EXPECT_NE(creds.status().message().find("0.0.0.0"), std::string::npos);
}

TEST(TlsTest, InsecureOnLoopbackIsAllowed) {
  EXPECT_TRUE(MakeChannelCredentials({.insecure = true}, {"127.0.0.1", 7443}).ok());
  EXPECT_TRUE(MakeServerCredentials({.insecure = true}, {{"::1", 7443}}).ok());
}

TEST(TlsTest, MissingFlagsSayHowToMakeTheFiles) {
  auto creds = MakeChannelCredentials({}, {"198.18.0.1", 7443});
  ASSERT_FALSE(creds.ok());
  EXPECT_NE(creds.status().message().find("--tls-ca"), std::string::npos);
  EXPECT_NE(creds.status().message().find("mailfleet-pki"), std::string::npos);
}

TEST(TlsTest, UnreadableOrNonPemFilesAreNamed) {
  auto missing = MakeChannelCredentials(
      {.ca_file = "/nonexistent/ca.crt", .cert_file = "x", .key_file = "y"}, {"198.18.0.1", 7443});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/ca.crt"), std::string::npos);

  auto path =
      std::filesystem::temp_directory_path() / ("mailfleet-notpem-" + std::to_string(getpid()));
  std::ofstream(path) << "hello\n";
  auto not_pem = MakeChannelCredentials(
      {.ca_file = path.string(), .cert_file = path.string(), .key_file = path.string()},
      {"198.18.0.1", 7443});
  std::filesystem::remove(path);
  ASSERT_FALSE(not_pem.ok());
  EXPECT_NE(not_pem.status().message().find("not a PEM file"), std::string::npos);
}

TEST(TlsTest, ConnectErrorsBecomeAdvice) {
  EXPECT_NE(ExplainConnectError("c:1", 14, "failed to connect to all addresses; Connection refused")
                .find("is mailfleet-collector running"),
            std::string::npos);
  EXPECT_NE(ExplainConnectError("c:1", 14, "Ssl handshake failed: CERTIFICATE_VERIFY_FAILED")
                .find("--tls-ca does not trust"),
            std::string::npos);
  EXPECT_NE(ExplainConnectError("c:1", 14, "Ssl handshake failed: SSL_ERROR_SSL: tlsv13 alert")
                .find("refused this program's certificate"),
            std::string::npos);
}

}  // namespace
}  // namespace mailfleet
