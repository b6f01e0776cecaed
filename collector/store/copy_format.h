// PostgreSQL COPY formats: text for the derived rows (escaping, NULLs, bytes that a text
// column cannot hold, invalid UTF-8 and NUL, turned into U+FFFD) and binary for the event
// rows.
#pragma once

#include <cstdint>
#include <cstring>
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
// rest. The writer keeps the bytes in a buffer of its own, written into in place: a bulk
// load writes some 60 fields a line, and with a std::string append call for each, the
// writing was the collector's busiest function.
class BinaryCopyWriter {
 public:
  // With room for `capacity` bytes before the buffer grows.
  explicit BinaryCopyWriter(size_t capacity = 0) : buffer_(capacity, '\0') {}

  // What was written since the last Clear().
  std::string_view written() const { return {buffer_.data(), size_}; }
  size_t size() const { return size_; }
  void Clear() { size_ = 0; }

  void Header();
  void Row(int16_t fields) { PutBe16(Room(2), static_cast<uint16_t>(fields)); }
  void Null() { PutBe32(Room(4), 0xFFFFFFFFu); }
  void Text(std::string_view valid) {
    char* p = Room(4 + valid.size());
    PutBe32(p, static_cast<uint32_t>(valid.size()));
    if (!valid.empty()) std::memcpy(p + 4, valid.data(), valid.size());
  }
  void SafeText(std::string_view any);
  void Bytes(std::string_view bytes) { Text(bytes); }
  void Bool(bool v) {
    char* p = Room(5);
    PutBe32(p, 1);
    p[4] = v ? 1 : 0;
  }
  void Int32(int32_t v) {
    char* p = Room(8);
    PutBe32(p, 4);
    PutBe32(p + 4, static_cast<uint32_t>(v));
  }
  void Int64(int64_t v) {
    char* p = Room(12);
    PutBe32(p, 8);
    PutBe64(p + 4, static_cast<uint64_t>(v));
  }
  void Float4(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    char* p = Room(8);
    PutBe32(p, 4);
    PutBe32(p + 4, bits);
  }
  void Float4Array(const float* values, int n);  // real[], one dimension, no NULLs
  // timestamptz: microseconds since 2000-01-01 UTC.
  void Timestamp(int64_t unix_us) {
    constexpr int64_t kPostgresEpochUs = 946'684'800'000'000;
    Int64(unix_us - kPostgresEpochUs);
  }

 private:
  static void PutBe16(char* p, uint16_t v) {
    v = __builtin_bswap16(v);
    std::memcpy(p, &v, 2);
  }
  static void PutBe32(char* p, uint32_t v) {
    v = __builtin_bswap32(v);
    std::memcpy(p, &v, 4);
  }
  static void PutBe64(char* p, uint64_t v) {
    v = __builtin_bswap64(v);
    std::memcpy(p, &v, 8);
  }
  // n bytes at the end of what was written, to be filled in.
  char* Room(size_t n) {
    if (buffer_.size() - size_ < n) Grow(n);
    char* p = buffer_.data() + size_;
    size_ += n;
    return p;
  }
  void Grow(size_t n);

  std::string buffer_;  // its first size_ bytes were written; the rest is room
  size_t size_ = 0;
};

}  // namespace mailfleet::collector
