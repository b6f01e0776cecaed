#include "common/config.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "tests/fakes/test_dir.h"

namespace mailfleet {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    std::string path = (dir_ / "agent.toml").string();
    std::ofstream(path) << text;
    return path;
  }

  mailfleet::testing::TestDir test_dir_{"mailfleet-config-test"};
  const std::filesystem::path& dir_ = test_dir_.path();
};

TEST_F(ConfigTest, ReadsTypedValuesAndNestedKeys) {
  auto file = TomlConfig::Load(
      Write("collector = \"198.18.0.1:7443\"\nlisten = [\"a:1\", \"b:2\"]\n"
            "heartbeat_interval_seconds = 3\n[tls]\nca = \"/pki/ca.crt\"\ninsecure = false\n"));
  ASSERT_TRUE(file.ok()) << file.status();
  std::string collector, ca;
  std::vector<std::string> listen;
  int64_t interval = 0;
  bool insecure = true;
  ASSERT_TRUE(file->GetString("collector", &collector).ok());
  ASSERT_TRUE(file->GetStrings("listen", &listen).ok());
  ASSERT_TRUE(file->GetInt("heartbeat_interval_seconds", &interval).ok());
  ASSERT_TRUE(file->GetString("tls.ca", &ca).ok());
  ASSERT_TRUE(file->GetBool("tls.insecure", &insecure).ok());
  EXPECT_TRUE(file->CheckAllKeysUsed().ok());
  EXPECT_EQ(collector, "198.18.0.1:7443");
  EXPECT_EQ(listen, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(interval, 3);
  EXPECT_EQ(ca, "/pki/ca.crt");
  EXPECT_FALSE(insecure);
}

TEST_F(ConfigTest, AbsentKeysKeepTheirDefaults) {
  auto file = TomlConfig::Load(Write("name = \"h1\"\n"));
  ASSERT_TRUE(file.ok());
  std::string collector = "127.0.0.1:7443";
  ASSERT_TRUE(file->GetString("collector", &collector).ok());
  EXPECT_EQ(collector, "127.0.0.1:7443");
}

TEST_F(ConfigTest, WrongTypeNamesTheKeyAndTheFile) {
  std::string path = Write("heartbeat_interval_seconds = \"five\"\n");
  auto file = TomlConfig::Load(path);
  ASSERT_TRUE(file.ok());
  int64_t interval = 5;
  absl::Status s = file->GetInt("heartbeat_interval_seconds", &interval);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("heartbeat_interval_seconds"), std::string::npos) << s;
  EXPECT_NE(s.message().find(path), std::string::npos) << s;
  EXPECT_NE(s.message().find("integer"), std::string::npos) << s;
  EXPECT_EQ(interval, 5);
}

TEST_F(ConfigTest, UnknownKeyIsAnErrorNamingIt) {
  std::string path = Write("colector = \"x:1\"\n[tls]\nca = \"c\"\ncert_file = \"typo\"\n");
  auto file = TomlConfig::Load(path);
  ASSERT_TRUE(file.ok());
  std::string ca;
  ASSERT_TRUE(file->GetString("tls.ca", &ca).ok());
  absl::Status s = file->CheckAllKeysUsed();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("colector"), std::string::npos) << s;
  EXPECT_NE(s.message().find(path), std::string::npos) << s;
}

TEST_F(ConfigTest, SyntaxErrorGivesFileLineAndColumn) {
  std::string path = Write("name = \"h1\"\nstate_dir = /var/lib\n");
  auto file = TomlConfig::Load(path);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find(path), std::string::npos) << file.status();
  EXPECT_NE(file.status().message().find("line 2"), std::string::npos) << file.status();
}

TEST_F(ConfigTest, MissingFileSaysSo) {
  auto file = TomlConfig::Load((dir_ / "nope.toml").string());
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("nope.toml"), std::string::npos) << file.status();
}

TEST_F(ConfigTest, ArrayOfNonStringsIsRefused) {
  auto file = TomlConfig::Load(Write("listen = [1, 2]\n"));
  ASSERT_TRUE(file.ok());
  std::vector<std::string> listen;
  absl::Status s = file->GetStrings("listen", &listen);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'listen'"), std::string::npos) << s;
}

TEST(FindConfigFlagTest, FindsBothForms) {
  const char* a[] = {"prog", "--name", "h1", "--config", "/etc/x.toml"};
  EXPECT_EQ(FindConfigFlag(5, a), "/etc/x.toml");
  const char* b[] = {"prog", "--config=/etc/y.toml"};
  EXPECT_EQ(FindConfigFlag(2, b), "/etc/y.toml");
  const char* c[] = {"prog", "--", "--config", "z"};
  EXPECT_EQ(FindConfigFlag(4, c), "");
}

}  // namespace
}  // namespace mailfleet
