// Byte and substring search tuned for log lines: haystacks of a few hundred bytes, searched
// dozens of times per line. std::string_view::find(char) calls memchr, whose call and set-up
// cost more than the search on short spans; find(string_view) calls memchr once per
// occurrence of the needle's first byte (a space, for most needles here). These compare 16
// bytes at a time inline, and the substring search tests the needle's first and last bytes
// together, so a candidate is rarely a false one.
//   size_t at = Find(line, " from ");   // like line.find(" from "): npos when absent
#pragma once

#include <cstddef>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mailfleet::parse {

[[gnu::always_inline]] inline size_t Find(std::string_view s, char c, size_t pos = 0) {
  if (pos >= s.size()) return std::string_view::npos;
  const char* const begin = s.data();
  const char* p = begin + pos;
  const char* const end = begin + s.size();
#if defined(__SSE2__)
  const __m128i want = _mm_set1_epi8(c);
  for (; end - p >= 16; p += 16) {
    __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, want)));
    if (mask != 0) return static_cast<size_t>(p - begin) + __builtin_ctz(mask);
  }
  if (p < end && s.size() >= 16) {
    // The last bytes: one load that ends at `end`, the bytes already seen masked off.
    const char* last = end - 16;
    __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(last));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, want)));
    mask &= ~0u << (p - last);
    if (mask != 0) return static_cast<size_t>(last - begin) + __builtin_ctz(mask);
    return std::string_view::npos;
  }
#endif
  for (; p < end; ++p) {
    if (*p == c) return static_cast<size_t>(p - begin);
  }
  return std::string_view::npos;
}

// Like s.rfind(c): the last c in s, or npos.
[[gnu::always_inline]] inline size_t FindLast(std::string_view s, char c) {
  const char* const begin = s.data();
  const char* p = begin + s.size();
#if defined(__SSE2__)
  const __m128i want = _mm_set1_epi8(c);
  while (p - begin >= 16) {
    p -= 16;
    __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, want)));
    if (mask != 0) return static_cast<size_t>(p - begin) + 31 - __builtin_clz(mask);
  }
#endif
  while (p > begin) {
    if (*--p == c) return static_cast<size_t>(p - begin);
  }
  return std::string_view::npos;
}

[[gnu::always_inline]] inline size_t Find(std::string_view s, std::string_view needle,
                                          size_t pos = 0) {
  const size_t k = needle.size();
  if (k == 0) return pos <= s.size() ? pos : std::string_view::npos;
  if (k == 1) return Find(s, needle[0], pos);
  if (pos > s.size() || s.size() - pos < k) return std::string_view::npos;
  const char* const begin = s.data();
  const char* p = begin + pos;
  const char* const last_start = begin + s.size() - k;  // the last place the needle fits
  const char first = needle[0], final = needle[k - 1];
#if defined(__SSE2__)
  const __m128i want_first = _mm_set1_epi8(first);
  const __m128i want_final = _mm_set1_epi8(final);
  // The candidates at q..q+15 whose bit is set in `keep`, all of whose bytes exist.
  auto block = [&](const char* q, unsigned keep) -> size_t {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + k - 1));
    unsigned mask = keep & static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(
                               _mm_cmpeq_epi8(a, want_first), _mm_cmpeq_epi8(b, want_final))));
    while (mask != 0) {
      int i = __builtin_ctz(mask);
      if (std::memcmp(q + i + 1, needle.data() + 1, k - 2) == 0) {
        return static_cast<size_t>(q - begin) + i;
      }
      mask &= mask - 1;
    }
    return std::string_view::npos;
  };
  for (; last_start - p >= 15; p += 16) {
    if (size_t at = block(p, 0xFFFF); at != std::string_view::npos) return at;
  }
  if (p <= last_start && last_start - begin >= 15) {
    // The last candidates: one block that ends at last_start, those already tried masked off.
    const char* q = last_start - 15;
    return block(q, 0xFFFFu & (~0u << (p - q)));
  }
#endif
  for (; p <= last_start; ++p) {
    if (p[0] == first && p[k - 1] == final && std::memcmp(p + 1, needle.data() + 1, k - 2) == 0) {
      return static_cast<size_t>(p - begin);
    }
  }
  return std::string_view::npos;
}

}  // namespace mailfleet::parse
