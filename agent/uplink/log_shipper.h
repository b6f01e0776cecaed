// Log shipping over the uplink: takes batches from the Tailer while fewer than `window` are
// unacked, and turns the collector's acks into checkpointed offsets. On a new stream every
// unacked line is read again from the files (the source file is the buffer), so nothing is
// kept in memory beyond the window, however long the collector is away.
#pragma once

#include <deque>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/tail/tailer.h"
#include "common/clock.h"
#include "mailfleet/v1/agent.pb.h"

namespace mailfleet::agent {

struct LogShipperOptions {
  std::string checkpoint_path;  // state_dir/checkpoint
  size_t window = 48;           // unacked batches in flight at most
  std::chrono::milliseconds checkpoint_every{1000};
};

struct ShipperStats {
  uint64_t batches_sent = 0;
  uint64_t events_sent = 0;
  uint64_t events_acked = 0;
  size_t in_flight = 0;
};

class LogShipper {
 public:
  // tailer and clock must outlive the shipper. Thread-safe. Scans and saves the checkpoint
  // once right away.
  LogShipper(Tailer& tailer, LogShipperOptions options, const Clock& clock);

  // A stream was (re)established: unacked batches are forgotten and read again.
  void OnStreamStart();
  // Makes `message` the next batch (with its batch_id) if the window has room and a source
  // has new lines, and returns its number of lines; else 0, `message` empty.
  int Next(mailfleet::v1::AgentMessage* message);
  void OnAck(const mailfleet::v1::Ack& ack);
  // True iff `window` batches wait for their acks.
  bool WindowFull();
  // Looks for new and rotated files; saves the checkpoint when due.
  void Tick();
  // Writes the checkpoint now (at shutdown).
  absl::Status SaveNow();
  ShipperStats stats();
  // Pipeline health per source, for the heartbeat.
  void FillHealth(mailfleet::v1::Heartbeat* heartbeat);

 private:
  struct InFlight {
    uint64_t batch_id;
    std::string source_id;
    uint64_t end_offset;
    int events;
  };
  absl::Status SaveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LogShipperOptions options_;
  const Clock& clock_;
  absl::Mutex mu_;
  Tailer& tailer_ ABSL_GUARDED_BY(mu_);
  WireBatch batch_ ABSL_GUARDED_BY(mu_);  // filled by the tailer, then moved into a message
  std::deque<InFlight> in_flight_ ABSL_GUARDED_BY(mu_);
  uint64_t next_batch_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point last_save_ ABSL_GUARDED_BY(mu_);
  ShipperStats stats_ ABSL_GUARDED_BY(mu_);
  // When each source last had every line stored (for lag_seconds).
  std::map<std::string, std::chrono::steady_clock::time_point> caught_up_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mailfleet::agent
