// The collector's COPY encodings: text escaping (derived rows) and the binary format (events).
#include "collector/store/copy_format.h"

#include <string>

#include "gtest/gtest.h"

namespace mailfleet::collector {
namespace {

std::string Text(std::string_view in) {
  std::string out;
  AppendCopyText(in, &out);
  return out;
}

TEST(CopyTextTest, EscapesTheFourSpecialBytesAndKeepsValidUtf8) {
  EXPECT_EQ(Text("a\\b\tc\nd\re"), "a\\\\b\\tc\\nd\\re");
  EXPECT_EQ(Text("h\xC3\xA9llo \xE2\x82\xAC"), "h\xC3\xA9llo \xE2\x82\xAC");
  EXPECT_EQ(Text(""), "");
}

TEST(CopyTextTest, BytesATextColumnCannotHoldBecomeReplacementCharacters) {
  EXPECT_EQ(Text(std::string("a\0b", 3)),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(Text("x\xFFy"), "x\xEF\xBF\xBDy");
  EXPECT_EQ(Text("cut \xC3"), "cut \xEF\xBF\xBD");               // a sequence cut at the end
  EXPECT_EQ(Text("\xC3\t\xA9"), "\xEF\xBF\xBD\\t\xEF\xBF\xBD");  // cut by a tab
}

TEST(CopyTimeFormatterTest, FormatsMicrosecondsInUtcAcrossTheCachedSecond) {
  CopyTimeFormatter f;
  std::string out;
  f.Append(0, &out);
  EXPECT_EQ(out, "1970-01-01 00:00:00.000000+00");
  out.clear();
  f.Append(-1, &out);
  EXPECT_EQ(out, "1969-12-31 23:59:59.999999+00");
  out.clear();
  f.Append(1'795'946'138'228'375, &out);
  f.Append(1'795'946'138'000'001, &out);  // the same second, from the cache
  EXPECT_EQ(out, "2026-11-29 09:55:38.228375+002026-11-29 09:55:38.000001+00");
  out.clear();
  f.Append(-62'000'000'000'000'000, &out);  // four-digit year, zero-padded
  EXPECT_EQ(out.substr(0, 5), "0005-");
}

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

TEST(BinaryCopyWriterTest, WritesPostgresBinaryCopyFields) {
  BinaryCopyWriter w;
  w.Header();
  EXPECT_EQ(Hex(w.written()),
            "5047434f50590aff0d0a00"
            "00000000"
            "00000000");
  w.Clear();
  w.Row(3);
  w.Null();
  w.Int32(-2);
  w.Int64(5);
  EXPECT_EQ(Hex(w.written()),
            "0003"
            "ffffffff"
            "00000004fffffffe"
            "000000080000000000000005");
  w.Clear();
  w.Bool(true);
  w.Float4(1.5f);
  w.Timestamp(946'684'800'000'001);  // 2000-01-01 plus 1 us: PostgreSQL's epoch
  EXPECT_EQ(Hex(w.written()),
            "0000000101"
            "000000043fc00000"
            "000000080000000000000001");
  w.Clear();
  float delays[2] = {0.5f, 0};
  w.Float4Array(delays, 2);
  EXPECT_EQ(Hex(w.written()),
            "00000024"
            "00000001"
            "00000000"
            "000002bc"
            "00000002"
            "00000001"
            "000000043f000000"
            "0000000400000000");
  w.Clear();
  w.Text("ok");
  w.SafeText("\xFF");
  EXPECT_EQ(Hex(w.written()),
            "000000026f6b"
            "00000003efbfbd");
}

// Rows beyond the first capacity: the buffer grows and keeps what was written.
TEST(BinaryCopyWriterTest, GrowsPastItsCapacityKeepingWhatWasWritten) {
  BinaryCopyWriter w(16);
  std::string expected;
  for (int i = 0; i < 20'000; ++i) {
    std::string text(static_cast<size_t>(i % 37), static_cast<char>('a' + i % 26));
    w.Text(text);
    expected += Hex(std::string_view("\0\0\0", 3)) +
                Hex(std::string(1, static_cast<char>(text.size()))) + Hex(text);
  }
  EXPECT_EQ(Hex(w.written()), expected);
  w.Clear();
  EXPECT_EQ(w.size(), 0u);
  w.Null();
  EXPECT_EQ(Hex(w.written()), "ffffffff");
}

}  // namespace
}  // namespace mailfleet::collector
