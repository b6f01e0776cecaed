// PostgreSQL COPY text format for event rows: escaping, NULLs, and turning bytes that a text
// column cannot hold (invalid UTF-8, NUL) into U+FFFD while the exact bytes go to bytea.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mailfleet::collector {

// Appends `value` as one COPY text field: invalid UTF-8 and NUL become U+FFFD; backslash,
// tab, newline and carriage return are escaped.
void AppendCopyText(std::string_view value, std::string* out);
// The COPY NULL marker.
inline void AppendCopyNull(std::string* out) { out->append("\\N"); }
// bytea in COPY text format (hex, with the backslash escaped).
void AppendCopyBytea(std::string_view bytes, std::string* out);
// True iff a text column can hold `value` as it is (valid UTF-8, no NUL).
bool FitsTextColumn(std::string_view value);
// Numbers in the form COPY reads back exactly (the shortest round-trip form for floats).
void AppendCopyInt(int64_t value, std::string* out);
void AppendCopyFloat(float value, std::string* out);

// timestamptz in COPY text ("2026-11-29 07:56:40.123456+00"), remembering the last second it
// formatted: log lines come in bursts of the same second. One per thread.
class CopyTimeFormatter {
 public:
  void Append(int64_t time_us, std::string* out);

 private:
  int64_t cached_secs_ = 0;
  size_t cached_len_ = 0;
  char cached_[32] = {};
};

}  // namespace mailfleet::collector
