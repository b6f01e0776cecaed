// The parser's fast paths against their plain equivalents: the inline byte and substring
// search against std::string_view::find, the UTF-8 check's word and vector steps, and the
// timestamp caches against parsing each line alone.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>

#include "common/parse/find.h"
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
  // The cache is keyed on the whole stamp: each differing month, day or second counts.
  parser.Parse(lines[0], &e);
  int64_t nov29 = e.time_us;
  parser.Parse(lines[6], &e);
  EXPECT_EQ(e.time_us - nov29, (31 * 86'400 + 1) * int64_t{1'000'000});
  parser.Parse(lines[5], &e);
  EXPECT_EQ(e.time_us - nov29, (86'400 + 1) * int64_t{1'000'000});
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
