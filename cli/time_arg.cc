#include "cli/time_arg.h"

#include <charconv>

#include "common/parse/parser.h"
#include "fmt/format.h"

namespace mailfleet::cli {

std::optional<std::chrono::seconds> ParseDurationArg(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  char unit = text.back();
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
  if (ec != std::errc() || ptr != text.data() + text.size() - 1 || n < 0) return std::nullopt;
  int64_t seconds = unit == 's'   ? 1
                    : unit == 'm' ? 60
                    : unit == 'h' ? 3600
                    : unit == 'd' ? 86400
                    : unit == 'w' ? 7 * 86400
                                  : 0;
  if (seconds == 0 || n > (int64_t{1} << 40) / seconds) return std::nullopt;
  return std::chrono::seconds(n * seconds);
}

absl::StatusOr<std::chrono::system_clock::time_point> ParseTimeArg(
    std::string_view text, std::chrono::system_clock::time_point now) {
  auto bad = [&] {
    return absl::InvalidArgumentError(fmt::format(
        "'{}' is not a time: write a duration before now (90s, 15m, 2h, 3d, 1w) or a date and "
        "time (2026-11-29, 2026-11-29T08:00, 2026-11-29 08:00:00Z)",
        text));
  };
  if (text.empty()) return bad();
  // Relative: digits and one unit.
  if (auto d = ParseDurationArg(text)) return now - *d;
  // Absolute: reuse the log parser's RFC 3339 reading on a fake log line.
  std::string iso(text);
  if (iso.size() == 10) iso += "T00:00:00";
  if (iso.size() >= 16 && iso[13] == ':' && (iso.size() == 16 || iso[16] != ':')) {
    iso.insert(16, ":00");
  }
  parse::Parser parser(now);
  parse::LogEvent event;
  parser.Parse(iso + " host prog: x", &event);
  if (event.time_us == 0 || event.Get(event.program) != "prog") return bad();
  return std::chrono::system_clock::time_point(std::chrono::microseconds(event.time_us));
}

}  // namespace mailfleet::cli
