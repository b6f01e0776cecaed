// Dispatcher: the collector's end of the command path (DESIGN.md "Scale and availability").
// Commands reach agents only through PostgreSQL: the control API records a command's targets,
// NOTIFY wakes every replica's dispatcher, and each one claims the targets of the agents
// connected to it and sends them on their streams. Results come back the same way, so a
// command waits for its results alike whichever replica holds each agent.
#pragma once

#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/server/agent_service.h"
#include "collector/store/store.h"
#include "common/clock.h"

namespace mailfleet::collector {

class Dispatcher {
 public:
  // store, agents and clock must outlive this.
  Dispatcher(Store& store, AgentService& agents, const Clock& clock, std::string collector_id);
  // Stops listening and claiming.
  ~Dispatcher();

  // Subscribes to the notifications and starts the claim loop.
  absl::Status Start();
  // Look for claimable targets now (a host connected here, say). Thread-safe.
  void Wake();

  // A counter that moves each time some command's results may have changed.
  uint64_t results_seq();
  // Blocks until results_seq() differs from *seen (and stores it there), the deadline, or
  // shutdown. False at shutdown.
  bool AwaitResults(uint64_t* seen, absl::Time deadline);

 private:
  void Loop();
  void Claim();

  Store& store_;
  AgentService& agents_;
  const Clock& clock_;
  const std::string collector_id_;
  std::unique_ptr<Subscription> subscription_;

  absl::Mutex mu_;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t results_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread loop_;
};

}  // namespace mailfleet::collector
