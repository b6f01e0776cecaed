// The parser's fast paths against their plain equivalents: the inline byte and substring
// search against std::string_view::find, the UTF-8 check's word and vector steps and the
// line splitter's ASCII flag, numbers read 8 digits at a time against from_chars, and the
// timestamp caches against parsing each line alone.
#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/parse/find.h"
#include "common/parse/line_splitter.h"
#include "common/parse/parser.h"
#include "common/parse/utf8.h"

namespace mailfleet::parse {
namespace {

using std::string_view;

TEST(FindTest, MatchesStringViewFindOnRandomText) {
  std::mt19937 rng(7);
  // A small alphabet makes matches, near-matches and repeated first bytes common.
  const std::string alphabet = "ab :[";
  const string_view needles[] = {
      "a", ":", "ab", ": ", "a a", "ba:", " [a", "abab:", "::::", "a b [ : a b", "zz"};
  for (int round = 0; round < 3000; ++round) {
    std::string hay(rng() % 70, ' ');
    for (char& c : hay) c = alphabet[rng() % alphabet.size()];
    string_view s(hay);
    for (string_view n : needles) {
      for (size_t pos :
           {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, s.size(), s.size() + 3}) {
        ASSERT_EQ(Find(s, n, pos), s.find(n, pos)) << "'" << hay << "' '" << n << "' " << pos;
      }
      if (n.size() == 1) {
        ASSERT_EQ(FindLast(s, n[0]), s.rfind(n[0])) << "'" << hay << "' '" << n << "'";
      }
    }
  }
}

TEST(FindTest, EdgesOfTheSixteenByteBlocks) {
  for (size_t len = 0; len <= 48; ++len) {
    for (size_t at = 0; at < len; ++at) {
      std::string hay(len, '.');
      hay[at] = 'x';
      string_view s(hay);
      EXPECT_EQ(Find(s, 'x'), at) << len << " " << at;
      EXPECT_EQ(FindLast(s, 'x'), at) << len << " " << at;
      EXPECT_EQ(Find(s, 'x', at + 1), string_view::npos) << len << " " << at;
      if (at + 3 <= len) {
        hay.replace(at, 3, "x:y");
        EXPECT_EQ(Find(string_view(hay), "x:y"), at) << len << " " << at;
        EXPECT_EQ(Find(string_view(hay), "x:z"), string_view::npos) << len << " " << at;
      }
    }
  }
  EXPECT_EQ(Find("abc", ""), 0u);
  EXPECT_EQ(Find("abc", "", 3), 3u);
  EXPECT_EQ(Find("abc", "", 4), string_view::npos);
  EXPECT_EQ(Find("ab", "abc"), string_view::npos);
}

TEST(ValidUtf8Test, EveryPositionOfABadByteOrNul) {
  for (size_t len = 1; len <= 40; ++len) {
    for (size_t at = 0; at < len; ++at) {
      std::string line(len, 'a');
      EXPECT_TRUE(ValidUtf8(line));
      line[at] = '\xff';
      EXPECT_FALSE(ValidUtf8(line)) << len << " " << at;
      line[at] = '\0';
      EXPECT_FALSE(ValidUtf8(line)) << len << " " << at;
      if (at + 2 <= len) {
        line.replace(at, 2, "\xc3\xa9");  // é
        EXPECT_TRUE(ValidUtf8(line)) << len << " " << at;
        line[at + 1] = 'a';  // a lead byte without its continuation
        EXPECT_FALSE(ValidUtf8(line)) << len << " " << at;
      }
    }
  }
}

// Each line parsed by a Parser of its own, which has no earlier line to reuse anything from.
LogEvent Alone(string_view line, std::chrono::system_clock::time_point reference) {
  Parser fresh(reference);
  LogEvent e;
  fresh.Parse(line, &e);
  return e;
}

TEST(ParserStampCacheTest, ConsecutiveLinesGetTheTimesEachHasAlone) {
  const auto reference = std::chrono::system_clock::from_time_t(1'796'000'000);  // 2026-11
  const string_view lines[] = {
      "Nov 29 00:54:25 h1 postfix/qmgr[1]: 4C598106183: removed",
      "Nov 29 00:54:25 h1 postfix/qmgr[1]: 4C598106184: removed",
      "Nov 29 00:54:26 h1 postfix/qmgr[1]: 4C598106185: removed",
      "Nov 29 00:54:26.250000 h1 postfix/qmgr[1]: 4C598106186: removed",
      "Nov 29 00:54:26 h1 postfix/qmgr[1]: 4C598106187: removed",
      "Nov 30 00:54:26 h1 postfix/qmgr[1]: 4C598106188: removed",
      "Dec 30 00:54:26 h1 postfix/qmgr[1]: 4C598106189: removed",
      "Nov  1 00:54:26 h1 postfix/qmgr[1]: 4C59810618A: removed",
      "2023-03-14T00:00:31.185246+01:00 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2023-03-14T00:00:31.185247+01:00 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2023-03-14T23:59:59.999999Z h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2023-03-15T00:00:00.5-02:00 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2023-03-15 00:00:00 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2024-02-29T12:00:00.000001+00:00 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2024-02-29T12:00:59.000001+00:00 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2024-02-29T12:01:00.000001+00:00 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2024-02-29T12:01:00.000002+0530 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2024-02-29T12:01:00.000003+05:30 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2024-02-29T12:01:00.000004-05:30 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2024-02-29T12:01:00.000005 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2016-12-31T23:59:60.5+00:00 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2016-12-31T23:59:59.5+00:00 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2017-01-01T00:00:00,25+00:00 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "2017-01-01 00:00:01 h postfix/smtpd[2]: connect from a[192.0.2.1]",
      "Nov 29 00:54:25 h1 postfix/qmgr[1]: 4C598106183: removed",
  };
  Parser parser(reference);
  LogEvent e;
  for (string_view line : lines) {
    parser.Parse(line, &e);
    LogEvent alone = Alone(line, reference);
    EXPECT_EQ(e.time_us, alone.time_us) << line;
    EXPECT_NE(e.time_us, 0) << line;
    EXPECT_EQ(e.Get(e.host), alone.Get(alone.host)) << line;
  }
  // After a line of the same minute, seconds that are no seconds still make no time.
  for (string_view bad : {"2017-01-01T00:00:7x h postfix/smtpd[2]: connect from a[192.0.2.1]",
                          "2017-01-01T00:00:61 h postfix/smtpd[2]: connect from a[192.0.2.1]"}) {
    parser.Parse("2017-01-01T00:00:01 h postfix/smtpd[2]: connect from a[192.0.2.1]", &e);
    parser.Parse(bad, &e);
    EXPECT_EQ(e.time_us, 0) << bad;
    EXPECT_EQ(e.time_us, Alone(bad, reference).time_us) << bad;
  }
  // The cache is keyed on the whole stamp: each differing month, day or second counts.
  parser.Parse(lines[0], &e);
  int64_t nov29 = e.time_us;
  parser.Parse(lines[6], &e);
  EXPECT_EQ(e.time_us - nov29, (31 * 86'400 + 1) * int64_t{1'000'000});
  parser.Parse(lines[5], &e);
  EXPECT_EQ(e.time_us - nov29, (86'400 + 1) * int64_t{1'000'000});
}

// ASCII without NUL, the bytes LineSplitter::plain() vouches for.
bool Plain(string_view s) {
  for (char c : s) {
    if (c == 0 || static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

TEST(LineSplitterTest, PlainTellsWhetherTheLineIsAsciiWithoutNul) {
  const std::string filler(70, 'x');
  for (size_t len = 0; len <= 80; ++len) {
    for (size_t bad = 0; bad <= len; ++bad) {  // bad == len: none
      for (char odd : {'\0', '\x80', '\xC3', '\xFF'}) {
        std::string line(len, 'a');
        if (bad < len) line[bad] = odd;
        // The line first, then enough after it that its end is found in the vector steps.
        std::string stream = line + "\n" + filler + "\n";
        LineSplitter splitter(1 << 20);
        int n = 0;
        splitter.Feed(stream, [&](string_view got, uint64_t, bool) {
          if (n++ == 0) {
            ASSERT_EQ(got, line);
            EXPECT_EQ(splitter.plain(), Plain(line)) << "len " << len << " bad " << bad;
          }
        });
        ASSERT_EQ(n, 2);
      }
    }
  }
  // In chunks of any size, plain() never vouches for a line that is not plain.
  std::mt19937 rng(7);
  std::string stream;
  for (int i = 0; i < 400; ++i) {
    std::string line(rng() % 90, 'b');
    if (!line.empty() && rng() % 3 == 0) line[rng() % line.size()] = rng() % 2 ? '\0' : '\xE9';
    stream += line + "\n";
  }
  LineSplitter splitter(1 << 20);
  size_t lines = 0, vouched = 0;
  for (size_t at = 0; at < stream.size();) {
    size_t take = std::min<size_t>(1 + rng() % 200, stream.size() - at);
    splitter.Feed(string_view(stream).substr(at, take), [&](string_view got, uint64_t, bool) {
      ++lines;
      if (splitter.plain()) {
        ++vouched;
        EXPECT_TRUE(Plain(got));
      }
    });
    at += take;
  }
  EXPECT_EQ(lines, 400u);
  EXPECT_GT(vouched, 100u);
}

// Each way of finding a line's end (the one this processor takes, and each it may take)
// against a byte loop: the same end, and `plain` only for a line that is.
TEST(LineSplitterTest, EveryLineEndSearchAgainstAByteLoop) {
  using Search = size_t (*)(string_view, bool*);
  std::vector<std::pair<const char*, Search>> searches = {{"chosen", &LineSplitter::FindLineEnd},
                                                          {"sse2", &LineSplitter::FindLineEndSse2}};
#if MAILFLEET_AVX2_DISPATCH
  if (__builtin_cpu_supports("avx2")) searches.push_back({"avx2", &LineSplitter::FindLineEndAvx2});
#endif
  std::mt19937 rng(5);
  for (int trial = 0; trial < 4000; ++trial) {
    std::string s(rng() % 140, 'x');
    for (char& c : s) c = static_cast<char>(' ' + rng() % 90);
    if (!s.empty() && rng() % 2) s[rng() % s.size()] = '\n';
    if (!s.empty() && rng() % 3 == 0) s[rng() % s.size()] = "\0\x80\xC3\xFF"[rng() % 4];
    size_t want = s.find('\n');
    bool want_plain = want != string_view::npos && Plain(string_view(s).substr(0, want));
    for (auto [name, search] : searches) {
      bool plain = true;
      size_t got = search(s, &plain);
      ASSERT_EQ(got, want) << name << " on trial " << trial;
      if (got != string_view::npos && plain) {
        EXPECT_TRUE(want_plain) << name << " " << trial;
      }
      // A line whose end is within the vector steps is known either way.
      if (got != string_view::npos && s.size() >= 64 && got < 32) {
        EXPECT_EQ(plain, want_plain) << name << " " << trial;
      }
    }
  }
}

TEST(ParserNumbersTest, PidsAndPortsOfEveryLengthAgainstFromChars) {
  const auto reference = std::chrono::system_clock::from_time_t(1'796'000'000);
  Parser parser(reference);
  LogEvent e;
  std::mt19937_64 rng(11);
  for (int len = 1; len <= 12; ++len) {
    for (int trial = 0; trial < 40; ++trial) {
      std::string digits;
      for (int i = 0; i < len; ++i) digits.push_back(static_cast<char>('0' + rng() % 10));
      bool junk = trial % 4 == 3;
      if (junk) digits[rng() % digits.size()] = "a:/ -+"[rng() % 6];
      std::string line = "2023-03-14T00:00:31.185246+01:00 helga postfix/smtpd[" + digits +
                         "]: connect from a[192.0.2.1]:" + digits;
      parser.Parse(line, &e);
      int32_t pid = 0;
      uint16_t port = 0;
      auto [p1, ec1] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
      if (ec1 != std::errc() || p1 != digits.data() + digits.size()) pid = 0;
      auto [p2, ec2] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
      if (ec2 != std::errc() || p2 != digits.data() + digits.size()) port = 0;
      EXPECT_EQ(e.pid, pid) << line;
      if (Find(digits, ' ') == string_view::npos) {
        EXPECT_EQ(e.client_port, port) << line;
      }
    }
  }
  // A number too near the start of the line for an 8-byte word: read one digit at a time.
  parser.Parse("h p[5]: x", &e);
  EXPECT_EQ(e.pid, 5);
  parser.Parse("h p[5x]: x", &e);
  EXPECT_EQ(e.pid, 0);
}

TEST(ParserNumbersTest, APidMustBeAllDigitsAndFitItsType) {
  const auto reference = std::chrono::system_clock::from_time_t(1'796'000'000);
  Parser parser(reference);
  LogEvent e;
  parser.Parse("Nov 29 00:54:25 h1 postfix/smtpd[4242]: connect from a[192.0.2.1]:2525", &e);
  EXPECT_EQ(e.pid, 4242);
  EXPECT_EQ(e.client_port, 2525);
  // A bracketed address where a pid would be: its first digits are no pid.
  parser.Parse("Nov 29 00:54:25 h1 unknown[198.18.0.77]: SASL LOGIN authentication failed", &e);
  EXPECT_EQ(e.pid, 0);
  parser.Parse("Nov 29 00:54:25 h1 postfix/smtpd[99999999999]: connect from a[192.0.2.1]", &e);
  EXPECT_EQ(e.pid, 0);
  parser.Parse("Nov 29 00:54:25 h1 postfix/smtpd[1]: connect from a[192.0.2.1]:70000", &e);
  EXPECT_EQ(e.client_port, 0);
  EXPECT_EQ(e.Get(e.client_ip), "192.0.2.1");
}

}  // namespace
}  // namespace mailfleet::parse
