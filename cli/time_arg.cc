#include "cli/time_arg.h"

#include <algorithm>
#include <charconv>

#include "absl/time/civil_time.h"
#include "common/parse/parser.h"
#include "fmt/format.h"

namespace mailfleet::cli {
namespace {

// Whether YYYY-MM-DDTHH:MM:SS at the start of iso names a real date and time of day:
// abseil's civil time carries what is out of range over (month 13 into next year), so a
// date is real when it comes back unchanged.
bool InRange(std::string_view iso) {
  auto number = [&](size_t pos, size_t len) {
    int n = 0;
    auto [ptr, ec] = std::from_chars(iso.data() + pos, iso.data() + pos + len, n);
    return ec == std::errc() && ptr == iso.data() + pos + len ? n : -1;
  };
  int year = number(0, 4), month = number(5, 2), day = number(8, 2);
  int hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (std::min({year, month, day, hour, minute, second}) < 0) return false;
  absl::CivilSecond t(year, month, day, hour, minute, second);
  return t.year() == year && t.month() == month && t.day() == day && t.hour() == hour &&
         t.minute() == minute && t.second() == second;
}

}  // namespace

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
  // The log parser is lenient (a log line's time is taken as written); a time typed on the
  // command line must be a real one: 2026-13-01 or 2026-02-30 is a typo, not March.
  if (iso.size() >= 19 && !InRange(iso)) return bad();
  parse::Parser parser(now);
  parse::LogEvent event;
  parser.Parse(iso + " host prog: x", &event);
  if (event.time_us == 0 || event.Get(event.program) != "prog") return bad();
  return std::chrono::system_clock::time_point(std::chrono::microseconds(event.time_us));
}

}  // namespace mailfleet::cli
