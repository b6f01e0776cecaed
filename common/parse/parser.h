// The mail log parser: classic syslog, RFC 3339 / high-precision rsyslog, Postfix postlogd
// (maillog_file) and journal-export-style prefixes; Postfix daemons and Dovecot payloads.
// It never rejects a line: what it does not understand stays raw with kind kOther. No regex,
// and no allocation per line beyond the event's copy of the line.
//   Parser parser(clock.Now());
//   LogEvent event;
//   parser.Parse("Nov 29 00:54:25 h1 postfix/qmgr[8170]: 4C598106183: removed", &event);
#pragma once

#include <chrono>
#include <string_view>

#include "common/parse/log_event.h"

namespace mailfleet::parse {

// What the last line's timestamp was read as, for the next line to reuse: a classic syslog
// timestamp ("Nov 29 00:54:25") and its time; an ISO 8601 date and time to the minute
// ("2023-03-14T00:00") and its time; and an ISO 8601 zone ("+01:00") and its offset.
struct StampCache {
  char stamp[15] = {};
  int64_t time_us = 0;  // 0: no classic timestamp yet
  char iso_minute[16] = {};
  int64_t iso_minute_us = 0;  // the minute's start, before the zone's offset
  bool iso_minute_valid = false;
  char zone[6] = {};
  int64_t zone_offset_s = 0;
  bool zone_valid = false;
};

class Parser {
 public:
  // `reference` stands for "now" when a classic syslog timestamp has no year: the year is
  // reference's, or the one before when the month is more than one month ahead of it (a
  // December line read in January). Timestamps without a zone are taken as UTC.
  explicit Parser(std::chrono::system_clock::time_point reference);

  // Fills `event` (cleared first) from one line without its newline. Lines longer than
  // kMaxLine are cut there and flagged truncated. Thread-compatible: one Parser per thread
  // (it keeps the last line's timestamp to reuse).
  // `plain`: the caller knows the line to be ASCII without NUL (LineSplitter::plain()), so
  // it is not checked for valid UTF-8 again.
  void Parse(std::string_view line, LogEvent* event, bool plain = false);

  static constexpr size_t kMaxLine = 1 << 20;

 private:
  int reference_year_;
  int reference_month_;  // 1..12
  StampCache stamp_cache_;
};

}  // namespace mailfleet::parse
