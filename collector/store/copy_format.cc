#include "collector/store/copy_format.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/parse/utf8.h"

namespace mailfleet::collector {
namespace {

// The bytes AppendCopyText cannot copy as they are: the four it escapes, NUL, and every byte
// of a multibyte sequence (checked one sequence at a time).
constexpr std::array<bool, 256> kNeedsCare = [] {
  std::array<bool, 256> t{};
  t['\\'] = t['\t'] = t['\n'] = t['\r'] = t[0] = true;
  for (int c = 0x80; c < 256; ++c) t[c] = true;
  return t;
}();

}  // namespace

bool FitsTextColumn(std::string_view value) { return parse::ValidUtf8(value); }

void AppendCopyText(std::string_view value, std::string* out) {
  const char* p = value.data();
  const size_t n = value.size();
  size_t run = 0;  // start of the bytes not yet appended
  for (size_t i = 0; i < n;) {
    if (!kNeedsCare[static_cast<unsigned char>(p[i])]) {
      ++i;
      continue;
    }
    out->append(p + run, i - run);
    switch (p[i]) {
      case '\\':
        out->append("\\\\");
        run = ++i;
        continue;
      case '\t':
        out->append("\\t");
        run = ++i;
        continue;
      case '\n':
        out->append("\\n");
        run = ++i;
        continue;
      case '\r':
        out->append("\\r");
        run = ++i;
        continue;
      default:
        break;
    }
    size_t len = parse::Utf8SequenceLength(value, i);
    if (len == 0) {
      out->append("\xEF\xBF\xBD");
      run = ++i;
    } else {
      run = i;  // a valid sequence is copied with the run it belongs to
      i += len;
    }
  }
  out->append(p + run, n - run);
}

void AppendCopyInt(int64_t value, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out->append(buf, end);
}

void AppendCopyFloat(float value, std::string* out) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out->append(buf, end);
}

void CopyTimeFormatter::Append(int64_t time_us, std::string* out) {
  int64_t secs = time_us / 1'000'000;
  int64_t micros = time_us % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    --secs;
  }
  if (secs != cached_secs_ || cached_len_ == 0) {
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    int n =
        std::snprintf(cached_, sizeof cached_, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_len_ = n > 0 ? std::min(static_cast<size_t>(n), sizeof cached_ - 1) : 0;
    cached_secs_ = secs;
  }
  out->append(cached_, cached_len_);
  char frac[8] = {'.', '0', '0', '0', '0', '0', '0', '\0'};
  for (int k = 6; k >= 1; --k) {
    frac[k] = static_cast<char>('0' + micros % 10);
    micros /= 10;
  }
  out->append(frac, 7);
  out->append("+00");
}

void BinaryCopyWriter::Header() {
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with its NUL
  char* p = Room(sizeof kSignature + 8);
  std::memcpy(p, kSignature, sizeof kSignature);
  PutBe32(p + sizeof kSignature, 0);      // flags
  PutBe32(p + sizeof kSignature + 4, 0);  // header extension length
}

void BinaryCopyWriter::Grow(size_t n) {
  buffer_.resize(std::max({2 * buffer_.size(), size_ + n, size_t{64 * 1024}}));
}

void BinaryCopyWriter::SafeText(std::string_view any) {
  if (FitsTextColumn(any)) {
    Text(any);
  } else {
    Text(parse::ToValidUtf8(any));
  }
}

void BinaryCopyWriter::Float4Array(const float* values, int n) {
  constexpr uint32_t kFloat4Oid = 700;
  char* p = Room(24);
  PutBe32(p, static_cast<uint32_t>(20 + 8 * n));  // the array's own header, then each element
  PutBe32(p + 4, 1);                              // dimensions
  PutBe32(p + 8, 0);                              // no NULL elements
  PutBe32(p + 12, kFloat4Oid);
  PutBe32(p + 16, static_cast<uint32_t>(n));  // length of the dimension
  PutBe32(p + 20, 1);                         // its lower bound
  for (int i = 0; i < n; ++i) Float4(values[i]);
}

}  // namespace mailfleet::collector
