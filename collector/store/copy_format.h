// PostgreSQL COPY formats: text for the derived rows (escaping, NULLs, bytes that a text
// column cannot hold, invalid UTF-8 and NUL, turned into U+FFFD) and binary for the event
// rows.
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

// PostgreSQL's binary COPY format: a header, then per row its field count and each field as
// a length and its bytes (length -1: NULL); numbers big-endian. The server checks text
// fields for valid UTF-8, so Text takes only what FitsTextColumn accepts; SafeText mends the
// rest.
class BinaryCopyWriter {
 public:
  explicit BinaryCopyWriter(std::string* out) : out_(out) {}
  void Header();
  void Row(int16_t fields) { Be16(static_cast<uint16_t>(fields)); }
  void Null() { Be32(0xFFFFFFFFu); }
  void Text(std::string_view valid);
  void SafeText(std::string_view any);
  void Bytes(std::string_view bytes) { Text(bytes); }
  void Bool(bool v);
  void Int32(int32_t v);
  void Int64(int64_t v);
  void Float4(float v);
  void Float4Array(const float* values, int n);  // real[], one dimension, no NULLs
  void Timestamp(int64_t unix_us);               // timestamptz

 private:
  void Be16(uint16_t v);
  void Be32(uint32_t v);
  void Be64(uint64_t v);
  std::string* out_;
};

}  // namespace mailfleet::collector
