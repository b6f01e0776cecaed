// TOML config files (toml++) read into typed structs, with errors that name the key and the
// file. Flags are applied after the file, so a flag always wins over the file's value.
//   ASSIGN_OR_RETURN(TomlConfig file, TomlConfig::Load(path));
//   RETURN_IF_ERROR(file.GetString("collector", &config.collector));
//   RETURN_IF_ERROR(file.CheckAllKeysUsed());
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "toml++/toml.h"

namespace mailfleet {

class TomlConfig {
 public:
  // An empty path gives an empty config (every Get leaves its default).
  static absl::StatusOr<TomlConfig> Load(const std::string& path);

  // Each getter sets *out iff `key` (dotted, e.g. "tls.ca") is present; a value of the
  // wrong type is an error naming the key and the file.
  absl::Status GetString(std::string_view key, std::string* out);
  absl::Status GetStrings(std::string_view key, std::vector<std::string>* out);
  absl::Status GetInt(std::string_view key, int64_t* out);
  absl::Status GetBool(std::string_view key, bool* out);

  // Fails iff the file has a key that no getter asked for (usually a typo).
  absl::Status CheckAllKeysUsed() const;

  const std::string& path() const { return path_; }

 private:
  TomlConfig(std::string path, toml::table table)
      : path_(std::move(path)), table_(std::move(table)) {}
  absl::Status TypeError(std::string_view key, std::string_view want) const;

  std::string path_;
  toml::table table_;
  std::set<std::string, std::less<>> used_;
};

// Finds the value of `--config FILE` or `--config=FILE` in argv before the full flag parse,
// so the file can be loaded first and the flags applied over it. Empty when absent.
std::string FindConfigFlag(int argc, const char* const* argv);

}  // namespace mailfleet
