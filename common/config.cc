#include "common/config.h"

#include <functional>

#include "fmt/format.h"

namespace mailfleet {

absl::StatusOr<TomlConfig> TomlConfig::Load(const std::string& path) {
  if (path.empty()) return TomlConfig("", toml::table{});
  try {
    return TomlConfig(path, toml::parse_file(path));
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    if (where.line == 0) {
      return absl::NotFoundError(fmt::format("config file {}: {}; check the path given to --config",
                                             path, e.description()));
    }
    return absl::InvalidArgumentError(fmt::format("config file {} line {} column {}: {}", path,
                                                  where.line, where.column, e.description()));
  }
}

absl::Status TomlConfig::TypeError(std::string_view key, std::string_view want) const {
  return absl::InvalidArgumentError(
      fmt::format("config file {}: key '{}' must be {}", path_, key, want));
}

absl::Status TomlConfig::GetString(std::string_view key, std::string* out) {
  auto node = table_.at_path(key);
  if (!node) return absl::OkStatus();
  used_.emplace(key);
  auto value = node.value<std::string>();
  if (!node.is_string() || !value) return TypeError(key, "a string (in quotes)");
  *out = *value;
  return absl::OkStatus();
}

absl::Status TomlConfig::GetStrings(std::string_view key, std::vector<std::string>* out) {
  auto node = table_.at_path(key);
  if (!node) return absl::OkStatus();
  used_.emplace(key);
  if (node.is_string()) {
    *out = {*node.value<std::string>()};
    return absl::OkStatus();
  }
  const toml::array* array = node.as_array();
  if (array == nullptr) return TypeError(key, "a string or an array of strings");
  std::vector<std::string> values;
  for (const auto& element : *array) {
    auto value = element.value<std::string>();
    if (!element.is_string() || !value) return TypeError(key, "an array of strings");
    values.push_back(*value);
  }
  *out = std::move(values);
  return absl::OkStatus();
}

absl::Status TomlConfig::GetInt(std::string_view key, int64_t* out) {
  auto node = table_.at_path(key);
  if (!node) return absl::OkStatus();
  used_.emplace(key);
  if (!node.is_integer()) return TypeError(key, "an integer");
  *out = *node.value<int64_t>();
  return absl::OkStatus();
}

absl::Status TomlConfig::GetBool(std::string_view key, bool* out) {
  auto node = table_.at_path(key);
  if (!node) return absl::OkStatus();
  used_.emplace(key);
  if (!node.is_boolean()) return TypeError(key, "true or false");
  *out = *node.value<bool>();
  return absl::OkStatus();
}

absl::Status TomlConfig::CheckAllKeysUsed() const {
  std::string unknown;
  std::function<void(const toml::table&, const std::string&)> walk =
      [&](const toml::table& table, const std::string& prefix) {
        for (const auto& [k, v] : table) {
          std::string key =
              prefix.empty() ? std::string(k.str()) : fmt::format("{}.{}", prefix, k.str());
          if (used_.contains(key)) continue;
          if (const toml::table* sub = v.as_table()) {
            walk(*sub, key);
          } else if (unknown.empty()) {
            unknown = key;
          }
        }
      };
  walk(table_, "");
  if (unknown.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      fmt::format("config file {}: unknown key '{}'; see --help for the keys this program reads",
                  path_, unknown));
}

std::string FindConfigFlag(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--config" && i + 1 < argc) return argv[i + 1];
    if (arg.starts_with("--config=")) return std::string(arg.substr(9));
  }
  return "";
}

}  // namespace mailfleet
