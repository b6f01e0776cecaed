// Cuts a byte stream into lines. Bytes arrive in chunks of any size; a line is delivered
// once its '\n' has arrived, so a partial last line waits. Lines longer than max_line are
// delivered cut at max_line with truncated = true, and the rest of them is skipped without
// being buffered (memory stays bounded whatever the input).
//   LineSplitter splitter(1 << 20);
//   splitter.Feed(chunk, [&](std::string_view line, uint64_t end_offset, bool truncated) {...});
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/parse/find.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MAILFLEET_AVX2_DISPATCH 1
#else
#define MAILFLEET_AVX2_DISPATCH 0
#endif

namespace mailfleet::parse {

class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line) : max_line_(max_line) {}

  // fn(std::string_view line, uint64_t next_offset, bool truncated) for every complete line;
  // `line` has no '\n' and is valid only during the call; next_offset is the stream offset just
  // past the line's '\n' (where reading would resume after it).
  template <typename Fn>
  void Feed(std::string_view chunk, Fn&& fn) {
    while (!chunk.empty()) {
      size_t nl = FindLineEnd(chunk, &plain_);
      if (nl == std::string_view::npos) {
        Keep(chunk);
        offset_ += chunk.size();
        return;
      }
      std::string_view piece = chunk.substr(0, nl);
      offset_ += nl + 1;
      chunk.remove_prefix(nl + 1);
      if (partial_.empty() && !skipping_) {
        if (piece.size() > max_line_) {
          fn(piece.substr(0, max_line_), offset_, true);
        } else {
          fn(piece, offset_, false);
        }
      } else {
        Keep(piece);
        plain_ = false;  // not known: the parts were not looked at together
        fn(std::string_view(partial_), offset_, skipping_);
        partial_.clear();
        skipping_ = false;
        pending_ = 0;
      }
    }
  }

  // Delivers a held-back unfinished line as it is (for a file that will never grow again);
  // its next_offset is the end of the stream.
  template <typename Fn>
  void Flush(Fn&& fn) {
    if (pending_ == 0) return;
    plain_ = false;
    fn(std::string_view(partial_), offset_, skipping_);
    partial_.clear();
    skipping_ = false;
    pending_ = 0;
  }

  // During fn: true when the line delivered is known to be ASCII without NUL (the bytes were
  // looked at while its end was searched for), so Parser::Parse need not check it again.
  bool plain() const { return plain_; }

  // Bytes of an unfinished last line held back (they will be read again after a restart).
  size_t pending() const { return pending_; }
  // The offset just past the last complete line delivered.
  uint64_t committed_offset() const { return offset_ - pending_; }
  void Reset(uint64_t offset) {
    partial_.clear();
    skipping_ = false;
    pending_ = 0;
    offset_ = offset;
  }

  // The first '\n' in s, like Find(s, '\n'); *plain tells whether the bytes before it are
  // all ASCII without NUL (false when not known). With 32-byte vectors where the processor
  // has them (AVX2, asked once), else with 16-byte ones. Public for its tests.
  static size_t FindLineEnd(std::string_view s, bool* plain) {
#if MAILFLEET_AVX2_DISPATCH
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2) return FindLineEndAvx2(s, plain);
#endif
    return FindLineEndSse2(s, plain);
  }

#if MAILFLEET_AVX2_DISPATCH
  // Only where __builtin_cpu_supports("avx2").
  [[gnu::target("avx2")]] static size_t FindLineEndAvx2(std::string_view s, bool* plain) {
    const char* const begin = s.data();
    const char* p = begin;
    const char* const end = begin + s.size();
    const __m256i newline = _mm256_set1_epi8('\n');
    const __m256i one = _mm256_set1_epi8(1);
    unsigned unplain = 0;  // bits of odd bytes seen: NUL, and those of 0x80 and above
    for (; end - p >= 32; p += 32) {
      __m256i block = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      unsigned nl = static_cast<unsigned>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(block, newline)));
      unsigned odd = static_cast<unsigned>(_mm256_movemask_epi8(_mm256_cmpgt_epi8(one, block)));
      if (nl != 0) {
        unsigned at = static_cast<unsigned>(__builtin_ctz(nl));
        *plain = (unplain | (odd & ((1u << at) - 1))) == 0;
        return static_cast<size_t>(p - begin) + at;
      }
      unplain |= odd;
    }
    size_t rest = FindLineEndSse2(std::string_view(p, static_cast<size_t>(end - p)), plain);
    if (rest == std::string_view::npos) return rest;
    *plain = *plain && unplain == 0;
    return static_cast<size_t>(p - begin) + rest;
  }
#endif

  static size_t FindLineEndSse2(std::string_view s, bool* plain) {
    const char* const begin = s.data();
    const char* p = begin;
    const char* const end = begin + s.size();
#if defined(__SSE2__)
    const __m128i newline = _mm_set1_epi8('\n');
    const __m128i one = _mm_set1_epi8(1);
    // Bytes below 1 as signed chars: NUL, and those of 0x80 and above.
    auto odd = [&](__m128i block) {
      return static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(block, one)));
    };
    auto ends = [&](__m128i block) {
      return static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, newline)));
    };
    unsigned unplain = 0;  // bits of odd bytes seen
    for (; end - p >= 32; p += 32) {
      __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
      unsigned nl = ends(a) | ends(b) << 16;
      unsigned bad = odd(a) | odd(b) << 16;
      if (nl != 0) {
        unsigned at = static_cast<unsigned>(__builtin_ctz(nl));
        *plain = (unplain | (bad & ((1u << at) - 1))) == 0;
        return static_cast<size_t>(p - begin) + at;
      }
      unplain |= bad;
    }
    if (end - p >= 16) {
      __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      if (unsigned nl = ends(a); nl != 0) {
        unsigned at = static_cast<unsigned>(__builtin_ctz(nl));
        *plain = (unplain | (odd(a) & ((1u << at) - 1))) == 0;
        return static_cast<size_t>(p - begin) + at;
      }
      p += 16;
    }
    *plain = false;
    size_t rest = Find(std::string_view(p, static_cast<size_t>(end - p)), '\n');
    return rest == std::string_view::npos ? rest : static_cast<size_t>(p - begin) + rest;
#else
    *plain = false;
    return Find(s, '\n');
#endif
  }

 private:
  void Keep(std::string_view bytes) {
    pending_ += bytes.size();
    size_t room = max_line_ > partial_.size() ? max_line_ - partial_.size() : 0;
    if (bytes.size() > room) skipping_ = true;
    partial_.append(bytes.substr(0, room));
  }

  const size_t max_line_;
  bool plain_ = false;
  std::string partial_;
  bool skipping_ = false;  // the current line passed max_line_
  size_t pending_ = 0;
  uint64_t offset_ = 0;  // stream offset of the next byte to arrive
};

}  // namespace mailfleet::parse
