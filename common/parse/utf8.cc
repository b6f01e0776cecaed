#include "common/parse/utf8.h"

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mailfleet::parse {

size_t Utf8SequenceLength(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c == 0) return 0;
  if (c < 0x80) return 1;
  size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  uint32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return len;
}

namespace {

// Whether the 8 bytes at p are ASCII without NUL.
bool PlainWord(const char* p) {
  uint64_t word;
  std::memcpy(&word, p, 8);
  bool has_high = word & 0x8080808080808080ull;
  bool has_zero = ((word - 0x0101010101010101ull) & ~word & 0x8080808080808080ull) != 0;
  return !has_high && !has_zero;
}

#if defined(__SSE2__)
// A mask with a bit set for each of the 16 bytes at p that is not ASCII, or is NUL.
unsigned UnplainBytes(const char* p) {
  __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_or_si128(block, _mm_cmpeq_epi8(block, _mm_setzero_si128()))));
}
#endif

}  // namespace

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  const char* const data = s.data();
  while (i < n) {
    // Runs of ASCII without NUL are skipped in steps: 32 bytes, 16, 8. Fewer than a step left
    // at the end: they are plain if the last step's worth of bytes is.
#if defined(__SSE2__)
    while (i + 32 <= n && (UnplainBytes(data + i) | UnplainBytes(data + i + 16)) == 0) i += 32;
    while (i + 16 <= n && UnplainBytes(data + i) == 0) i += 16;
    if (i < n && i + 16 > n && n >= 16 && UnplainBytes(data + n - 16) == 0) break;
#endif
    while (i + 8 <= n && PlainWord(data + i)) i += 8;
    if (i >= n || (i + 8 > n && n >= 8 && PlainWord(data + n - 8))) break;
    size_t len = Utf8SequenceLength(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

}  // namespace mailfleet::parse

namespace mailfleet::parse {

std::string ToValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace mailfleet::parse
