// The tailer's rotation matrix on real files in a temp folder, with a fake clock. A fake
// collector keeps the per-source watermark of DESIGN.md, so every test can assert that each
// line written is stored exactly once.
#include "agent/tail/tailer.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/parse/parser.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/fakes/test_dir.h"

namespace mailfleet::agent {
namespace {

namespace fs = std::filesystem;

// The wire form lists spans up to the last field the line has; each listed one is the
// parser's, and a line with the last field lists them all.
TEST(EventToProtoTest, TrailingEmptySpansAreLeftOut) {
  parse::Parser parser(std::chrono::system_clock::from_time_t(1'796'000'000));
  parse::LogEvent e;
  parser.Parse(
      "Nov 29 00:54:25 h1 postfix/postscreen[3163107]: CONNECT from [192.0.2.7]:36942 to "
      "[198.18.0.11]:25",
      &e);
  mailfleet::v1::LogEvent wire;
  EventToProto(e, 100, &wire);
  // The last field this line has is client_ip (kSpanFields index 6).
  ASSERT_EQ(wire.spans_size(), 2 * 7);
  for (size_t i = 0; i < 7; ++i) {
    const parse::Span& span = e.*parse::kSpanFields[i].member;
    EXPECT_EQ(wire.spans(static_cast<int>(2 * i)), span.pos) << parse::kSpanFields[i].name;
    EXPECT_EQ(wire.spans(static_cast<int>(2 * i + 1)), span.len) << parse::kSpanFields[i].name;
  }
  EXPECT_EQ(e.Get(e.client_ip), "192.0.2.7");

  parser.Parse(
      "Nov 29 00:54:25 h1 dovecot: imap-login: Login: user=<alice>, method=PLAIN, "
      "rip=192.0.2.9, lip=198.18.0.11, mpid=4242, TLS, session=<Zsr4Aty5t99TYRQZ>",
      &e);
  wire.Clear();
  EventToProto(e, 200, &wire);
  EXPECT_EQ(wire.spans_size(), static_cast<int>(2 * parse::kSpanFieldCount));
  EXPECT_EQ(e.Get(e.session), "Zsr4Aty5t99TYRQZ");
}

class FakeClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override { return now_; }
  std::chrono::steady_clock::time_point SteadyNow() const override { return steady_; }
  void Advance(std::chrono::milliseconds d) {
    now_ += d;
    steady_ += d;
  }

 private:
  std::chrono::system_clock::time_point now_ =
      std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  std::chrono::steady_clock::time_point steady_{};
};

// Stores what it is sent, dropping lines at or below each source's watermark.
struct FakeCollector {
  std::map<std::string, uint64_t> watermark;
  std::vector<std::string> stored;

  uint64_t Take(const mailfleet::v1::LogBatch& batch) {
    uint64_t& wm = watermark[batch.source_id()];
    uint64_t end = 0;
    for (const auto& e : batch.events()) {
      if (e.end_offset() > wm) {
        stored.push_back(e.raw());
        wm = e.end_offset();
      }
      end = e.end_offset();
    }
    return end;
  }
};

std::string Line(int seq) {
  return fmt::format("Nov 29 00:00:{:02} h1 postfix/qmgr[1]: {:010X}: removed", seq % 60, seq);
}

class TailerTest : public ::testing::Test {
 protected:
  void SetUp() override { log_ = (dir_ / "mail.log").string(); }

  // Appends lines first..last (inclusive) to path.
  void Write(const std::string& path, int first, int last) {
    std::ofstream out(path, std::ios::app);
    for (int i = first; i <= last; ++i) out << Line(i) << "\n";
    for (int i = first; i <= last; ++i) written_.push_back(Line(i));
  }

  std::unique_ptr<Tailer> Start(const Checkpoint& checkpoint = {},
                                std::vector<std::string> paths = {}) {
    if (paths.empty()) paths = {log_};
    return std::make_unique<Tailer>(TailerOptions{.paths = paths}, checkpoint, clock_);
  }

  // Reads everything there is, acking each batch (unless ack is false).
  void Drain(Tailer& tailer, bool ack = true) {
    for (int round = 0; round < 3; ++round) {
      tailer.Scan();
      WireBatch wire;
      while (tailer.NextBatch(&wire)) {
        uint64_t end = collector_.Take(wire.ToProto());
        EXPECT_EQ(end, wire.last_end_offset());
        if (ack) tailer.Acked(wire.source_id, end);
      }
      clock_.Advance(std::chrono::milliseconds(1500));
    }
  }

  void ExpectExactlyOnce() {
    std::multiset<std::string> got(collector_.stored.begin(), collector_.stored.end());
    std::multiset<std::string> want(written_.begin(), written_.end());
    EXPECT_EQ(got.size(), want.size());
    for (const auto& line : want) {
      EXPECT_EQ(got.count(line), want.count(line))
          << "written " << want.count(line) << " times, stored " << got.count(line) << ": " << line;
    }
    for (const auto& line : got) {
      EXPECT_GT(want.count(line), 0u) << "stored but never written: " << line;
    }
  }

  static void Gzip(const std::string& from, const std::string& to) {
    std::ifstream in(from, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    gzFile gz = gzopen(to.c_str(), "wb");
    gzwrite(gz, data.data(), static_cast<unsigned>(data.size()));
    gzclose(gz);
    fs::remove(from);
  }

  mailfleet::testing::TestDir test_dir_{"mailfleet-tailer"};
  const fs::path& dir_ = test_dir_.path();
  std::string log_;
  FakeClock clock_;
  FakeCollector collector_;
  std::vector<std::string> written_;
};

TEST_F(TailerTest, ReadsAFileAndItsAppends) {
  Write(log_, 1, 100);
  auto tailer = Start();
  Drain(*tailer);
  Write(log_, 101, 150);
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, RenameRotationReadsTheOldFileToItsEndThenTheNewOne) {
  Write(log_, 1, 100);
  auto tailer = Start();
  Drain(*tailer);
  Write(log_, 101, 120);  // not read yet
  fs::rename(log_, log_ + ".1");
  Write(log_ + ".1", 121, 125);  // a late writer on the renamed file
  Write(log_, 126, 200);
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, CreateRotationWithAnEmptyNewFile) {
  Write(log_, 1, 50);
  auto tailer = Start();
  Drain(*tailer);
  fs::rename(log_, log_ + ".1");
  std::ofstream(log_).close();
  Drain(*tailer);
  Write(log_, 51, 80);
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, CopyTruncateContinuesInTheCopy) {
  Write(log_, 1, 100);
  auto tailer = Start();
  Drain(*tailer);
  Write(log_, 101, 130);  // written before the copy, not read yet
  fs::copy_file(log_, log_ + ".1");
  fs::resize_file(log_, 0);
  Write(log_, 131, 160);
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, DelayCompressKeepsEveryLine) {
  Write(log_, 1, 40);
  auto tailer = Start();
  Drain(*tailer);
  fs::rename(log_, log_ + ".1");  // first rotation: plain
  Write(log_, 41, 80);
  Drain(*tailer);
  Gzip(log_ + ".1", log_ + ".2.gz");  // second: the old generation gets compressed
  fs::rename(log_, log_ + ".1");
  Write(log_, 81, 120);
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, PostfixLogrotateWhileDownResumesInsideTheGzip) {
  Write(log_, 1, 100);
  Checkpoint saved;
  {
    auto tailer = Start();
    Drain(*tailer);
    saved = tailer->Snapshot();
  }
  Write(log_, 101, 150);  // written while the agent is down
  clock_.Advance(std::chrono::seconds(10));
  // `postfix logrotate`: rename with a date suffix and compress at once.
  std::string rotated = log_ + ".20261129-000000";
  fs::rename(log_, rotated);
  Gzip(rotated, rotated + ".gz");
  Write(log_, 151, 180);
  auto tailer = Start(saved);
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, ThreeRotationsWhileDown) {
  Write(log_, 1, 30);
  Checkpoint saved;
  {
    auto tailer = Start();
    Drain(*tailer);
    saved = tailer->Snapshot();
  }
  clock_.Advance(std::chrono::seconds(5));
  Write(log_, 31, 40);
  fs::rename(log_, log_ + ".1");
  Write(log_, 41, 60);
  fs::rename(log_ + ".1", log_ + ".2");
  fs::rename(log_, log_ + ".1");
  Write(log_, 61, 80);
  Gzip(log_ + ".2", log_ + ".3.gz");
  fs::rename(log_ + ".1", log_ + ".2");
  fs::rename(log_, log_ + ".1");
  Write(log_, 81, 100);
  // Make the generations' ages match their order, as real rotations would.
  auto now = fs::file_time_type::clock::now();
  fs::last_write_time(log_ + ".3.gz", now - std::chrono::seconds(3));
  fs::last_write_time(log_ + ".2", now - std::chrono::seconds(2));
  fs::last_write_time(log_ + ".1", now - std::chrono::seconds(1));
  saved.saved_at = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count() -
                   60;
  auto tailer = Start(saved);
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, AGenerationRotatedAwayBetweenTwoScansIsReadWhole) {
  Write(log_, 1, 20);
  auto tailer = Start();
  Drain(*tailer);
  Write(log_, 21, 30);
  fs::rename(log_, log_ + ".0001");
  Write(log_, 31, 60);  // never seen live
  fs::rename(log_, log_ + ".0002");
  Write(log_, 61, 70);
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, OldHistoryIsNotShippedOnTheFirstStart) {
  Write(log_ + ".1", 1, 10);
  written_.clear();  // history from before mailfleet
  Write(log_, 11, 20);
  auto tailer = Start();
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, TruncatedWhileDownAndRegrownPastTheOldOffset) {
  Write(log_, 1, 50);
  Checkpoint saved;
  {
    auto tailer = Start();
    Drain(*tailer);
    saved = tailer->Snapshot();
  }
  fs::resize_file(log_, 0);
  Write(log_, 1000, 1200);  // longer than before, other first line
  auto tailer = Start(saved);
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, InodeReuseIsCaughtByTheFirstLine) {
  Write(log_, 1, 20);
  auto tailer = Start();
  Drain(*tailer);
  fs::remove(log_);
  Write(log_, 500, 520);  // may get the same inode back
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, TwoFilesWithIdenticalFirstBytesStayApart) {
  std::string other = (dir_ / "other.log").string();
  std::ofstream(log_) << Line(1) << "\n";
  std::ofstream(other) << Line(1) << "\n";
  written_ = {Line(1), Line(1)};
  Write(log_, 2, 20);
  Write(other, 30, 50);
  auto tailer = Start({}, {log_, other});
  Drain(*tailer);
  ExpectExactlyOnce();
  EXPECT_EQ(collector_.watermark.size(), 2u);
}

TEST_F(TailerTest, TinyFileAndAFirstLineThatArrivesInPieces) {
  { std::ofstream(log_) << "Nov 29 00:00:00 h1 postfix/qm"; }
  auto tailer = Start();
  Drain(*tailer);
  EXPECT_TRUE(collector_.stored.empty());
  { std::ofstream(log_, std::ios::app) << "gr[1]: ABCDE12345: removed\n"; }
  written_.push_back("Nov 29 00:00:00 h1 postfix/qmgr[1]: ABCDE12345: removed");
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, APartialLineWhenTheAgentIsKilled) {
  Write(log_, 1, 10);
  { std::ofstream(log_, std::ios::app) << "Nov 29 00:00:00 h1 postfix/qmgr[1]: ABC"; }
  Checkpoint saved;
  {
    auto tailer = Start();
    Drain(*tailer);
    saved = tailer->Snapshot();  // killed here: nothing after the last newline is acked
  }
  { std::ofstream(log_, std::ios::app) << "DEF12345: removed\n"; }
  written_.push_back("Nov 29 00:00:00 h1 postfix/qmgr[1]: ABCDEF12345: removed");
  auto tailer = Start(saved);
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, UnackedBatchesAreSentAgainAndDroppedByTheWatermark) {
  Write(log_, 1, 100);
  Checkpoint saved;
  {
    auto tailer = Start();
    Drain(*tailer, /*ack=*/false);  // the collector stored them, the acks were lost
    saved = tailer->Snapshot();
  }
  auto tailer = Start(saved);
  Drain(*tailer);
  ExpectExactlyOnce();
}

TEST_F(TailerTest, RewindSendsTheUnackedLinesAgain) {
  Write(log_, 1, 30);
  auto tailer = Start();
  tailer->Scan();
  WireBatch batch;
  ASSERT_TRUE(tailer->NextBatch(&batch));
  EXPECT_EQ(batch.events(), 30);
  tailer->Rewind();  // the stream broke before the ack
  ASSERT_TRUE(tailer->NextBatch(&batch));
  EXPECT_EQ(batch.ToProto().events_size(), 30);
  EXPECT_EQ(batch.first_offset, 0u);
}

TEST_F(TailerTest, HostileLines) {
  std::string big(17 << 20, 'x');
  {
    std::ofstream out(log_, std::ios::binary);
    out << "Nov 29 00:00:00 h1 postfix/smtpd[1]: " << big.substr(0, (1 << 20) - 100)
        << "\n";                                                    // < 1 MiB
    out << "Nov 29 00:00:01 h1 postfix/smtpd[1]: " << big << "\n";  // 17 MiB
    out << std::string("Nov 29 00:00:02 h1 postfix/smtpd[1]: nul\0byte", 45) << "\n";
    out << "Nov 29 00:00:03 h1 postfix/smtpd[1]: bad \xff\xfe utf8\n";
    out << "Nov 29 00:00:04 h1 postfix/smtpd[1]: crlf line\r\n";
    // A multibyte character across the 64 KiB read boundary.
    size_t at = static_cast<size_t>(out.tellp()) + 37;  // after the prefix below
    size_t boundary = (at / 65536 + 1) * 65536;
    out << "Nov 29 00:00:05 h1 postfix/smtpd[1]: ";
    std::string pad(boundary - at - 1, 'p');
    out << pad << "\xc3\xa9 after\n";
  }
  auto tailer = Start();
  Drain(*tailer);
  ASSERT_EQ(collector_.stored.size(), 6u);
  EXPECT_EQ(collector_.stored[0].size(), (1u << 20) - 100 + 37);
  EXPECT_EQ(collector_.stored[1].size(), 1u << 20);  // cut at 1 MiB
  EXPECT_EQ(collector_.stored[2].size(), 45u);       // the NUL kept
  EXPECT_EQ(collector_.stored[3], "Nov 29 00:00:03 h1 postfix/smtpd[1]: bad \xff\xfe utf8");
  EXPECT_EQ(collector_.stored[4], "Nov 29 00:00:04 h1 postfix/smtpd[1]: crlf line");
  EXPECT_TRUE(collector_.stored[5].ends_with("\xc3\xa9 after"));
}

TEST_F(TailerTest, CheckpointRoundTripsThroughTheFile) {
  Write(log_, 1, 10);
  auto tailer = Start();
  Drain(*tailer);
  std::string path = (dir_ / "checkpoint").string();
  ASSERT_TRUE(SaveCheckpoint(path, tailer->Snapshot()).ok());
  auto loaded = LoadCheckpoint(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->sources.size(), 1u);
  EXPECT_EQ(loaded->sources.begin()->second.offset, fs::file_size(log_));
  EXPECT_EQ(loaded->sources.begin()->second.path, log_);
}

TEST_F(TailerTest, DamagedCheckpointIsAnErrorNamingTheLine) {
  std::string path = (dir_ / "checkpoint").string();
  std::ofstream(path) << "mailfleet-checkpoint-v1 5\nabc def\n";
  auto loaded = LoadCheckpoint(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("line 2"), std::string::npos) << loaded.status();
}

}  // namespace
}  // namespace mailfleet::agent
