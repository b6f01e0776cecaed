// WireBatch writes log batches in protobuf's wire format by hand: every event must come out
// byte for byte as protobuf serialises EventToProto's message, and the batch must parse back.
#include "agent/tail/wire_batch.h"

#include <cstdlib>
#include <filesystem>
#include <limits>

#include "common/parse/parser.h"
#include "gtest/gtest.h"
#include "tests/unit/corpus_cases.h"

namespace mailfleet::agent {
namespace {

namespace fs = std::filesystem;

// The AgentMessage protobuf makes of a LogBatch holding these events (no batch fields).
std::string ProtobufBytes(const std::vector<parse::LogEvent>& events,
                          const std::vector<uint64_t>& ends) {
  mailfleet::v1::AgentMessage message;
  for (size_t i = 0; i < events.size(); ++i) {
    EventToProto(events[i], ends[i], message.mutable_log_batch()->add_events());
  }
  return message.SerializeAsString();
}

std::string WireBytes(const std::vector<parse::LogEvent>& events,
                      const std::vector<uint64_t>& ends) {
  WireBatch batch;
  for (size_t i = 0; i < events.size(); ++i) batch.Add(events[i], ends[i]);
  mailfleet::v1::AgentMessage message;
  batch.MoveInto(0, &message);
  return message.SerializeAsString();
}

// Every line of the pixelpark corpus (70k real lines of most Postfix daemons), one at a time.
TEST(WireBatchTest, EveryCorpusLineIsEncodedAsProtobufDoes) {
  const char* corpora = std::getenv("MAILFLEET_CORPORA");
  ASSERT_TRUE(corpora != nullptr && *corpora != '\0')
      << "MAILFLEET_CORPORA is not set (tests/run.sh sets it)";
  std::string text, error;
  ASSERT_TRUE(parse::corpus::ReadCorpusFile(
      fs::path(corpora) / "pixelpark-postfix-logsums" / "test" / "mail.log.xz", &text, &error))
      << error;
  parse::Parser parser(parse::corpus::ReferenceTime());
  std::vector<parse::LogEvent> one(1);
  uint64_t end = 0;
  int lines = 0, different = 0;
  for (std::string_view line : parse::corpus::SplitLines(text)) {
    parser.Parse(line, &one[0]);
    end += line.size() + 1;
    ++lines;
    if (WireBytes(one, {end}) != ProtobufBytes(one, {end}) && ++different <= 5) {
      ADD_FAILURE() << "encoded otherwise than by protobuf: " << line;
    }
  }
  EXPECT_GT(lines, 60'000);
  EXPECT_EQ(different, 0);
}

// Values at the edges of each field's encoding.
TEST(WireBatchTest, EdgeValuesAreEncodedAsProtobufDoes) {
  std::vector<parse::LogEvent> events(6);
  std::vector<uint64_t> ends = {1, 127, 128, 16384, std::numeric_limits<uint64_t>::max(), 0};
  events[0].raw = "plain";
  events[1].raw = std::string(1 << 20, 'x');  // a 3-byte length
  events[1].truncated = true;
  events[1].invalid_utf8 = true;
  events[1].queue_id = {(1 << 20) - 10, 10};  // positions past 2 and 3 varint bytes
  events[1].client_ip = {20000, 300};
  events[2].time_us = -1;  // before 1970: a 10-byte varint
  events[2].pid = std::numeric_limits<int32_t>::max();
  events[2].size = 0;
  events[2].nrcpt = 0;
  events[2].delay = 0.0f;   // not written
  events[3].delay = -0.0f;  // written: its bits are not 0
  events[3].delays[0] = 0;
  events[3].delays[1] = 1.5f;
  events[3].delays[2] = 0;
  events[3].delays[3] = 1e9f;
  events[3].client_port = 65535;
  events[3].relay_port = 1;
  events[3].kind = parse::Kind::kHeaderAction;
  events[3].severity = parse::Severity::kPanic;
  events[4].time_us = std::numeric_limits<int64_t>::max();
  events[4].session = {3, 4};  // the last span only: every span before it is written empty
  // events[5]: all defaults (an empty line)
  EXPECT_EQ(WireBytes(events, ends), ProtobufBytes(events, ends));
}

// The whole batch parses back with its own fields, whatever their order on the wire.
TEST(WireBatchTest, TheBatchParsesBackWithItsFields) {
  parse::Parser parser(parse::corpus::ReferenceTime());
  WireBatch batch;
  std::vector<parse::LogEvent> events(2);
  parser.Parse("Nov 29 02:57:41 h1 postfix/qmgr[12]: 4F2A11C0B1: removed", &events[0]);
  parser.Parse("Nov 29 02:57:42 h1 postfix/smtpd[11]: connect from a.example[198.18.0.21]",
               &events[1]);
  batch.Add(events[0], 60);
  batch.Add(events[1], 133);
  batch.source_id = "dev:ino:first";
  batch.path = "/var/log/mail.log";
  batch.first_offset = 3;
  EXPECT_EQ(batch.events(), 2);
  EXPECT_EQ(batch.last_end_offset(), 133u);
  mailfleet::v1::AgentMessage message;
  batch.MoveInto(42, &message);
  EXPECT_EQ(batch.events(), 0);
  EXPECT_EQ(batch.size(), 0u);

  mailfleet::v1::AgentMessage parsed;
  ASSERT_TRUE(parsed.ParseFromString(message.SerializeAsString()));
  ASSERT_TRUE(parsed.has_log_batch());
  const auto& got = parsed.log_batch();
  EXPECT_EQ(got.batch_id(), 42u);
  EXPECT_EQ(got.source_id(), "dev:ino:first");
  EXPECT_EQ(got.path(), "/var/log/mail.log");
  EXPECT_EQ(got.first_offset(), 3u);
  ASSERT_EQ(got.events_size(), 2);
  mailfleet::v1::LogEvent want;
  EventToProto(events[1], 133, &want);
  EXPECT_EQ(got.events(1).SerializeAsString(), want.SerializeAsString());

  // The message is used for the next batch: the old one is gone from it.
  WireBatch next;
  next.Add(events[0], 200);
  next.MoveInto(43, &message);
  ASSERT_TRUE(parsed.ParseFromString(message.SerializeAsString()));
  EXPECT_EQ(parsed.log_batch().batch_id(), 43u);
  EXPECT_EQ(parsed.log_batch().events_size(), 1);
}

}  // namespace
}  // namespace mailfleet::agent
