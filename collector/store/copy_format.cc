#include "collector/store/copy_format.h"

#include <array>
#include <charconv>
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

void AppendCopyBytea(std::string_view bytes, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->append("\\\\x");
  for (unsigned char c : bytes) {
    out->push_back(kHex[c >> 4]);
    out->push_back(kHex[c & 15]);
  }
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
    cached_len_ = std::strftime(cached_, sizeof cached_, "%Y-%m-%d %H:%M:%S", &tm);
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

}  // namespace mailfleet::collector
