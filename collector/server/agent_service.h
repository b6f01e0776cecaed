// AgentService: one callback reactor per agent stream (DESIGN.md "Wire protocol").
// Each stream has at most one read (or the store task it started) outstanding, and its own
// queue of messages to write (Welcome, acks, commands) with one write in flight; store work
// runs on the WorkQueue, never in a gRPC callback. A host's newer stream replaces its older
// one, and a stream silent for longer than stale_after is cancelled.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "collector/server/work_queue.h"
#include "collector/store/store.h"
#include "common/clock.h"
#include "mailfleet/v1/agent.grpc.pb.h"

namespace mailfleet::collector {

struct AgentServiceOptions {
  std::string collector_id;
  std::chrono::seconds heartbeat_interval{5};  // told to agents in Welcome
  std::chrono::seconds stale_after{20};        // no message for this long: stream cancelled
  // Log batches received and not yet stored, over all streams, above which a stream that
  // already has batches waiting stops reading until they are stored (memory bound).
  int64_t max_held_batches = 512;
};

class AgentService final : public mailfleet::v1::AgentService::CallbackService {
 public:
  // store, queue and clock must outlive this service and the server it is registered with.
  AgentService(Store& store, WorkQueue& queue, const Clock& clock, AgentServiceOptions options);
  // Stops the stale-stream reaper. Call after the server has shut down.
  ~AgentService() override;

  grpc::ServerBidiReactor<mailfleet::v1::AgentMessage, mailfleet::v1::CollectorMessage>* Connect(
      grpc::CallbackServerContext* context) override;

  // The number of streams that have said Hello and are open.
  size_t ConnectedCount();
  // The hosts with a stream open to this replica.
  std::vector<std::string> ConnectedHosts();
  // Queues the command on the host's stream; false when the host has none here.
  bool SendCommand(const std::string& host, mailfleet::v1::Command command);
  // Groups of log batches whose lines were stored while the group before them committed.
  uint64_t groups_stored_ahead() const { return groups_stored_ahead_; }
  // Log batches received and not yet stored (or dropped with their stream).
  int64_t held_batches() const { return held_batches_; }
  // Called (on a worker thread) each time a host has registered. Set before serving.
  void SetOnRegistered(std::function<void()> fn) { on_registered_ = std::move(fn); }

 private:
  class Stream;
  void AddStream(Stream* stream);
  void Register(Stream* stream);
  void Unregister(Stream* stream);
  void ReaperLoop();

  Store& store_;
  WorkQueue& queue_;
  const Clock& clock_;
  const AgentServiceOptions options_;

  absl::Mutex mu_;
  std::set<Stream*> streams_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Stream*> by_host_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> next_stream_{1};
  std::atomic<uint64_t> groups_stored_ahead_{0};
  std::atomic<int64_t> held_batches_{0};  // received, not yet stored or dropped
  std::function<void()> on_registered_;
  std::thread reaper_;
};

}  // namespace mailfleet::collector
