// The agent's uplink: dials the collector, says Hello with the inventory, then sends
// heartbeats on the one bidirectional stream until it breaks, and dials again after a
// jittered backoff (cap 30 s). A collector restart is routine. Run() blocks; Stop() ends it.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/uplink/log_shipper.h"
#include "common/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "mailfleet/v1/agent.pb.h"

namespace mailfleet::agent {

struct UplinkOptions {
  std::string target;  // collector HOST:PORT
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string agent_name;
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  std::chrono::seconds default_heartbeat{5};  // until the collector's Welcome says otherwise
  // Log shipping, when the agent tails logs; must outlive the Uplink. May be null.
  LogShipper* shipper = nullptr;
  // How often the tailer looks at the files when nothing wakes it earlier.
  std::chrono::milliseconds poll_interval{100};
  // After a send round, file changes wait this long before the next one, so a steady
  // trickle of lines leaves in batches rather than a message per line (acks never wait).
  // The linger adapts between the two bounds so that a round carries about
  // `lines_per_round` lines: short under load (latency), long for a trickle (fewer
  // messages, less CPU).
  std::chrono::milliseconds linger{50};
  std::chrono::milliseconds max_linger{250};
  int lines_per_round = 500;
  // Called on the stream's reader thread for each Command and Cancel; must not block.
  std::function<void(const mailfleet::v1::Command&)> on_command;
  std::function<void(const std::string& command_id)> on_cancel;
};

// The linger after a round that sent `lines` lines with `current`: scaled so the next round
// carries about options.lines_per_round, within [options.linger, options.max_linger].
std::chrono::milliseconds AdaptLinger(std::chrono::milliseconds current, int64_t lines,
                                      const UplinkOptions& options);

class Uplink {
 public:
  // `inventory` is called before every Hello. clock must outlive this.
  Uplink(UplinkOptions options, std::function<mailfleet::v1::Inventory()> inventory,
         const Clock& clock);

  // Connects and reconnects until Stop(). Call from one thread.
  void Run();
  // Thread-safe; makes Run() return soon.
  void Stop();
  // Thread-safe: something changed in the log files; look now instead of at the next poll.
  // Returns the current linger: until it has passed, the next round is not due, so another
  // Wake() would change nothing (FileWatcher waits that long before it looks again).
  std::chrono::milliseconds Wake();
  // Thread-safe: queues a message (a CommandResult) for the collector. It waits across
  // reconnects, so a result finished while the collector was away still arrives.
  void Send(mailfleet::v1::AgentMessage message);
  bool connected();

 private:
  // One stream's life: returns when it ends, with why.
  std::string RunStream();
  void WaitFor(std::chrono::milliseconds delay);

  const UplinkOptions options_;
  const std::function<mailfleet::v1::Inventory()> inventory_;
  const Clock& clock_;
  const std::string session_id_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;  // the live stream's, if any

  // What the live stream's writer loop waits for.
  absl::Mutex stream_mu_;
  bool reader_done_ ABSL_GUARDED_BY(stream_mu_) = false;
  bool wake_ ABSL_GUARDED_BY(stream_mu_) = false;                 // a log file changed
  std::chrono::milliseconds linger_ ABSL_GUARDED_BY(stream_mu_);  // Run()'s current linger
  bool acked_ ABSL_GUARDED_BY(stream_mu_) = false;                // an ack made room in the window
  std::deque<mailfleet::v1::AgentMessage> outbox_ ABSL_GUARDED_BY(stream_mu_);
};

}  // namespace mailfleet::agent
