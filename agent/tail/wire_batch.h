// A log batch written straight in the wire format of mailfleet.v1.LogBatch, line by line,
// with no LogEvent message in between: making, sizing and serialising a message for each line
// took about a third of the agent's CPU under load. Each event's bytes are the ones protobuf
// writes for EventToProto's message (tests/unit/wire_batch_test.cc), so the collector parses
// the batch like any other.
//   WireBatch batch;
//   batch.Add(event, end_offset);  ...
//   batch.MoveInto(batch_id, &agent_message);  // an AgentMessage carrying the LogBatch
#pragma once

#include <cstdint>
#include <string>

#include "common/parse/log_event.h"
#include "mailfleet/v1/agent.pb.h"

namespace mailfleet::agent {

// A parsed line as it travels to the collector, as a message: its fields, its spans up to the
// last one present, its end offset. WireBatch writes the same bytes without the message; tests
// build their batches with this.
void EventToProto(const parse::LogEvent& e, uint64_t end_offset, mailfleet::v1::LogEvent* out);

class WireBatch {
 public:
  std::string source_id;
  std::string path;
  uint64_t first_offset = 0;

  // Empties the batch.
  void Clear();
  // Appends the line's event, as EventToProto(e, end_offset, ...) has it.
  void Add(const parse::LogEvent& e, uint64_t end_offset);

  int events() const { return events_; }
  uint64_t last_end_offset() const { return last_end_offset_; }
  // Bytes of the events so far.
  size_t size() const { return bytes_.size(); }

  // Makes `message` an AgentMessage whose log_batch is this batch with `batch_id`, and empties
  // the batch. The encoded batch rides in the message's unknown fields under log_batch's field
  // number, where serialising it copies it as it is.
  void MoveInto(uint64_t batch_id, mailfleet::v1::AgentMessage* message);

  // The batch as a message (tests, tools).
  mailfleet::v1::LogBatch ToProto() const;

 private:
  std::string bytes_;  // the events, each a length-delimited field 5
  int events_ = 0;
  uint64_t last_end_offset_ = 0;
};

}  // namespace mailfleet::agent
