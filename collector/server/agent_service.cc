#include "collector/server/agent_service.h"

#include <optional>

#include "common/absl_fmt.h"
#include "common/tls.h"
#include "common/version.h"
#include "fmt/format.h"
#include "google/protobuf/arena.h"
#include "spdlog/spdlog.h"

namespace mailfleet::collector {
namespace {

using mailfleet::v1::AgentMessage;
using mailfleet::v1::CollectorMessage;

// Host names as fleet identities: what DNS and certificates allow.
bool ValidHostName(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return name.front() != '-' && name.front() != '.';
}

const char* PayloadName(AgentMessage::PayloadCase c) {
  switch (c) {
    case AgentMessage::kHello:
      return "Hello";
    case AgentMessage::kHeartbeat:
      return "Heartbeat";
    case AgentMessage::kLogBatch:
      return "LogBatch";
    case AgentMessage::kCommandResult:
      return "CommandResult";
    case AgentMessage::kBundleChunk:
      return "BundleChunk";
    case AgentMessage::PAYLOAD_NOT_SET:
      return "an empty message";
  }
  return "an unknown message";
}

}  // namespace

class AgentService::Stream final : public grpc::ServerBidiReactor<AgentMessage, CollectorMessage> {
 public:
  Stream(AgentService* service, grpc::CallbackServerContext* context)
      : service_(service), context_(context) {
    identity_ = IdentifyPeer(*context->auth_context());
    session_.peer = context->peer();
    session_.collector_id = service->options_.collector_id;
    Touch();
    service->AddStream(this);
    Read();
  }

  ~Stream() override {
    absl::MutexLock lock(&ingest_mu_);
    service_->held_batches_ -= static_cast<int64_t>(pending_.size());  // never stored here
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status::OK);
      return;
    }
    Touch();
    switch (in_->payload_case()) {
      case AgentMessage::kHello:
        HandleHello();
        return;
      case AgentMessage::kHeartbeat:
        HandleHeartbeat();
        return;
      case AgentMessage::kLogBatch:
        HandleLogBatch();
        return;
      case AgentMessage::kCommandResult:
        HandleCommandResult();
        return;
      default:
        FinishOnce(grpc::Status(
            grpc::StatusCode::FAILED_PRECONDITION,
            fmt::format("collector {} does not handle {} messages yet; run an agent of the "
                        "same mailfleet version as the collector",
                        kVersion, PayloadName(in_->payload_case()))));
    }
  }

  // Writes and reads run side by side, but only the read chain (a read, its handler, the
  // task it posted, the next read) ever calls Finish: a failed write cancels the call, which
  // ends the read chain, so the Stream is never deleted under a pending task. Log batches
  // are the exception: they are stored while the chain reads on, and a store task still
  // posted or running when OnDone comes deletes the Stream itself.
  void OnWriteDone(bool ok) override {
    const CollectorMessage* next = nullptr;
    std::optional<grpc::Status> finish;
    bool cancel = false;
    {
      absl::MutexLock lock(&write_mu_);
      outbox_.pop_front();
      if (!ok) {
        broken_ = true;
        outbox_.clear();
        cancel = true;
      }
      if (finish_wanted_ && !finished_) {
        // The read chain asked to finish while this write was in flight.
        writing_ = false;
        finished_ = true;
        finish = finish_wanted_;
      } else if (!broken_ && !outbox_.empty()) {
        next = &outbox_.front();
      } else {
        writing_ = false;
      }
    }
    if (finish) {
      Finish(*finish);
      return;
    }
    if (cancel) context_->TryCancel();
    if (next != nullptr) StartWrite(next);
  }

  // Queues a message for the agent; thread-safe. False when it cannot go any more (the
  // stream is finishing or a write failed).
  bool Send(CollectorMessage message) {
    const CollectorMessage* start = nullptr;
    {
      absl::MutexLock lock(&write_mu_);
      if (finish_wanted_ || broken_) return false;
      outbox_.push_back(std::move(message));  // deque: references to earlier ones stay valid
      if (!writing_) {
        writing_ = true;
        start = &outbox_.front();
      }
    }
    if (start != nullptr) StartWrite(start);
    return true;
  }

  // Ends the stream with status, once; called from the read chain only. At once when no write
  // is in flight, else when it completes.
  void FinishOnce(grpc::Status status) {
    bool now = false;
    {
      absl::MutexLock lock(&write_mu_);
      if (finish_wanted_) return;
      finish_wanted_ = status;
      if (!writing_) {
        finished_ = true;
        now = true;
      }
    }
    if (now) Finish(std::move(status));
  }

  void OnDone() override {
    service_->Unregister(this);
    if (registered_) {
      spdlog::info("agent {} disconnected ({})", session_.host, session_.peer);
      Store& store = service_->store_;
      Session session = session_;
      auto now = service_->clock_.Now();
      service_->queue_.Post([&store, session, now] {
        absl::Status s = store.MarkDisconnected(session, now);
        if (!s.ok()) spdlog::error("agent {}: {}", session.host, s.message());
      });
    }
    bool storing = false;
    {
      absl::MutexLock lock(&ingest_mu_);
      done_ = true;
      storing = !groups_.empty();  // then the last store task deletes this
    }
    if (!storing) delete this;
  }

  const std::string& host() const { return session_.host; }
  bool SendCommand(mailfleet::v1::Command command) {
    CollectorMessage message;
    *message.mutable_command() = std::move(command);
    return Send(std::move(message));
  }
  void Cancel() { context_->TryCancel(); }
  std::chrono::steady_clock::time_point last_activity() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(last_activity_.load()));
  }
  bool registered() const { return registered_; }

 private:
  void Touch() { last_activity_ = service_->clock_.SteadyNow().time_since_epoch().count(); }

  void HandleHello() {
    const auto& hello = in_->hello();
    if (registered_) {
      FinishOnce(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a stream takes one Hello only"));
      return;
    }
    const std::string& name = hello.agent_name();
    if (!ValidHostName(name)) {
      FinishOnce(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       fmt::format("agent name '{}' is not a valid host name (letters, digits, "
                                   "'.', '-', '_'); set --name",
                                   name)));
      return;
    }
    if (identity_.authenticated && (identity_.role != "agent" || identity_.common_name != name)) {
      FinishOnce(grpc::Status(
          grpc::StatusCode::PERMISSION_DENIED,
          fmt::format("the certificate CN={} OU={} may not connect as agent '{}': issue one with "
                      "`mailfleet-pki DIR issue agent {}`",
                      identity_.common_name, identity_.role, name, name)));
      return;
    }
    if (hello.protocol_version() != kProtocolVersion) {
      FinishOnce(
          grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                       fmt::format("agent speaks protocol {}, this collector {}; upgrade the "
                                   "older of the two",
                                   hello.protocol_version(), kProtocolVersion)));
      return;
    }
    session_.host = name;
    // Unique per stream, so the end of an older stream of the same agent process never marks
    // its newer stream disconnected.
    session_.session_id = fmt::format("{}/{}", hello.session_id(), service_->next_stream_++);
    registered_ = true;
    spdlog::info("agent {} connected from {} (postfix {}, dovecot {})", name, session_.peer,
                 hello.inventory().postfix_version(), hello.inventory().dovecot_version());

    auto inventory = hello.inventory();
    service_->queue_.Post([this, inventory] {
      absl::Status s = service_->store_.RegisterHost(session_, inventory, service_->clock_.Now());
      if (!s.ok()) {
        spdlog::error("agent {}: {}", session_.host, s.message());
        FinishOnce(
            grpc::Status(grpc::StatusCode::UNAVAILABLE,
                         fmt::format("the collector cannot store this host now: {}", s.message())));
        return;
      }
      CollectorMessage out;
      auto* welcome = out.mutable_welcome();
      welcome->set_collector_id(service_->options_.collector_id);
      welcome->set_heartbeat_interval_seconds(
          static_cast<uint32_t>(service_->options_.heartbeat_interval.count()));
      Send(std::move(out));
      // Commands may follow the Welcome now: the dispatcher finds this stream from here on,
      // and those queued while the host was away go at once.
      AgentService* service = service_;
      service->Register(this);
      if (service->on_registered_) service->on_registered_();
      Read();  // last: once a read is pending, this Stream may end at any time
    });
  }

  void HandleHeartbeat() {
    if (!registered_) {
      FinishOnce(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                              "the first message of a stream must be Hello"));
      return;
    }
    auto heartbeat =
        std::make_shared<mailfleet::v1::Heartbeat>(std::move(*in_->mutable_heartbeat()));
    service_->queue_.Post([this, heartbeat] {
      absl::Status s = service_->store_.TouchHost(session_, service_->clock_.Now(), *heartbeat);
      if (!s.ok()) spdlog::warn("agent {}: heartbeat not recorded: {}", session_.host, s.message());
      Read();
    });
  }

  void HandleLogBatch() {
    if (!registered_) {
      FinishOnce(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                              "the first message of a stream must be Hello"));
      return;
    }
    // The batch keeps its arena (the next read takes a new one). Reading goes on while the
    // store works, up to kReadAhead waiting batches (see Group).
    std::shared_ptr<mailfleet::v1::LogBatch> batch(arena_, in_->mutable_log_batch());
    std::vector<std::function<void()>> tasks;
    bool read = true;
    bool resume = false;  // never: this is the read chain
    {
      absl::MutexLock lock(&ingest_mu_);
      if (!ingest_failed_) {
        pending_.push_back(std::move(batch));  // else: never acked, sent again
        ++service_->held_batches_;
      }
      StartGroupsLocked(&tasks, &resume);
      // Reading waits while enough waits here, or while the collector as a whole holds too
      // much and this stream has its own batches in the store (they will resume it).
      if (pending_.size() >= kReadAhead ||
          (service_->held_batches_ > service_->options_.max_held_batches &&
           (!pending_.empty() || !groups_.empty()))) {
        read_parked_ = true;
        read = false;
      }
    }
    for (auto& t : tasks) service_->queue_.Post(std::move(t));
    if (read) Read();
  }

  // Log batches are stored in groups: a group takes the batches waiting when it starts (at
  // most kMaxGroup), is stored in one transaction and acked with its last batch id (an ack
  // covers every batch up to its id). Up to kMaxInFlight groups are stored at once: while
  // the first commits, the later ones store their lines ahead, each on a connection of its
  // own (Store::IngestAhead), assuming the watermarks the groups before them will leave, and
  // commit in order after them, or store again if that assumption failed. A later group
  // starts only while the first holds its connection, and never waits for one: a connection
  // is then always freed by a first group that runs to its end, so groups waiting on each
  // other cannot hold the whole pool.
  struct Group {
    std::vector<std::shared_ptr<mailfleet::v1::LogBatch>> batches;
    std::vector<const mailfleet::v1::LogBatch*> view;
    std::map<std::string, uint64_t> last_end;     // per source: the end offset of its last line
    std::unique_ptr<Store::PendingIngest> ahead;  // stored ahead, waiting for its turn
    bool copying = false;                         // its IngestAhead task has not ended
    bool holds_connection = false;                // (first group) later ones may start
  };

  // Starts the groups that may start, taking the waiting batches; the tasks to post go to
  // `tasks`. Sets *resume when it took batches from a parked read chain: the caller restarts
  // it (StartRead) once the lock is released.
  void StartGroupsLocked(std::vector<std::function<void()>>* tasks, bool* resume)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ingest_mu_) {
    if (ingest_failed_ || done_ || pending_.empty()) return;
    bool first = groups_.empty();
    if (!first && (groups_.size() >= kMaxInFlight || !groups_.front()->holds_connection ||
                   pending_.size() < kMinAhead)) {
      return;
    }
    auto group = std::make_shared<Group>();
    while (!pending_.empty() && group->batches.size() < kMaxGroup) {
      auto& b = pending_.front();
      if (!b->events().empty()) {
        group->last_end[b->source_id()] = b->events().rbegin()->end_offset();
      }
      group->view.push_back(b.get());
      group->batches.push_back(std::move(b));
      pending_.pop_front();
    }
    groups_.push_back(group);
    if (first) {
      tasks->push_back([this, group] { RunGroups(group, StoreFirst(group)); });
    } else {
      group->copying = true;
      // The watermarks the groups before it will leave, the later ones' over the earlier.
      std::map<std::string, uint64_t> expected;
      for (const auto& g : groups_) {
        if (g == group) break;
        for (const auto& [source, end] : g->last_end) expected[source] = end;
      }
      tasks->push_back([this, group, expected] { StoreAhead(group, expected); });
    }
    if (read_parked_ && !done_) {
      read_parked_ = false;
      *resume = true;  // room again
    }
  }

  // The first group's transaction, from the start.
  absl::StatusOr<IngestResult> StoreFirst(const std::shared_ptr<Group>& group) {
    return service_->store_.IngestBatches(session_.host, group->view, service_->clock_.Now(),
                                          [this, group] { OnConnectionHeld(group); });
  }

  void OnConnectionHeld(const std::shared_ptr<Group>& group) {
    std::vector<std::function<void()>> tasks;
    bool resume = false;
    {
      absl::MutexLock lock(&ingest_mu_);
      group->holds_connection = true;
      StartGroupsLocked(&tasks, &resume);
    }
    for (auto& t : tasks) service_->queue_.Post(std::move(t));
    if (resume) Read();
  }

  // A later group's lines, stored while the first commits. Commits itself when its turn
  // came meanwhile; else the task of the group before it commits it.
  void StoreAhead(const std::shared_ptr<Group>& group,
                  const std::map<std::string, uint64_t>& expected) {
    auto ahead =
        service_->store_.IngestAhead(session_.host, group->view, service_->clock_.Now(), expected);
    {
      absl::MutexLock lock(&ingest_mu_);
      group->copying = false;
      if (ahead.ok()) {
        group->ahead = std::move(*ahead);  // null: no connection was free
        if (group->ahead != nullptr) ++service_->groups_stored_ahead_;
      } else {
        spdlog::warn("agent {}: log batches not stored ahead ({}); storing them in turn",
                     session_.host, ahead.status().message());
      }
      if (groups_.front() != group) return;  // the first group's task continues with it
      group->holds_connection = group->ahead != nullptr;
    }
    RunGroups(group, StoreInTurn(group));
  }

  // A group whose turn came: commits what it stored ahead, or stores it all now.
  absl::StatusOr<IngestResult> StoreInTurn(const std::shared_ptr<Group>& group) {
    std::unique_ptr<Store::PendingIngest> ahead;
    {
      absl::MutexLock lock(&ingest_mu_);
      ahead = std::move(group->ahead);
      if (ingest_failed_) return absl::AbortedError("an earlier group was not stored");
    }
    if (ahead != nullptr) return service_->store_.FinishIngest(std::move(ahead));
    return StoreFirst(group);
  }

  // Acks (or fails) `group`, the first in flight, then goes on with the next group while its
  // turn has come and it is not still storing ahead. Runs on the work queue; the last task of
  // a Stream whose OnDone came deletes it.
  void RunGroups(std::shared_ptr<Group> group, absl::StatusOr<IngestResult> result) {
    while (group != nullptr) {
      const auto& batches = group->batches;
      if (result.ok()) {
        CollectorMessage out;
        auto* ack = out.mutable_ack();
        ack->set_batch_id(batches.back()->batch_id());
        ack->set_inserted(result->inserted);
        ack->set_duplicates(result->duplicates);
        Send(std::move(out));
      } else {
        if (result.status().code() != absl::StatusCode::kAborted) {
          spdlog::error("agent {}: log batches {}..{} not stored: {}", session_.host,
                        batches.front()->batch_id(), batches.back()->batch_id(),
                        result.status().message());
        }
        // Nothing after the failed batches may be stored (that would move the watermark
        // past them): the stream ends, and the agent sends the unacked lines on its next one.
        bool finish_here = false;
        bool first_failure = false;
        {
          absl::MutexLock lock(&ingest_mu_);
          first_failure = !ingest_failed_;
          ingest_failed_ = true;
          service_->held_batches_ -= static_cast<int64_t>(pending_.size());
          pending_.clear();
          finish_here = read_parked_ && !done_;  // no read pending: the chain ends here
          read_parked_ = false;
        }
        if (first_failure) {
          grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                              fmt::format("the collector cannot store log lines now: {}",
                                          result.status().message()));
          if (finish_here) {
            FinishOnce(std::move(status));
          } else {
            context_->TryCancel();  // the pending read fails, and the read chain finishes
          }
        }
      }

      std::vector<std::function<void()>> tasks;
      std::shared_ptr<Group> next;
      bool destroy = false;
      bool resume = false;
      {
        absl::MutexLock lock(&ingest_mu_);
        service_->held_batches_ -= static_cast<int64_t>(group->batches.size());
        groups_.pop_front();
        if (!groups_.empty() && !groups_.front()->copying) {
          next = groups_.front();
          next->holds_connection = next->ahead != nullptr;
        }
        StartGroupsLocked(&tasks, &resume);
        if (read_parked_ && !done_ && !ingest_failed_ && pending_.size() < kReadAhead) {
          read_parked_ = false;  // parked for the collector's budget: this stream's turn again
          resume = true;
        }
        destroy = groups_.empty() && done_;
      }
      for (auto& t : tasks) service_->queue_.Post(std::move(t));
      if (resume) Read();
      if (destroy) {
        delete this;
        return;
      }
      group = std::move(next);
      if (group != nullptr) result = StoreInTurn(group);
    }
  }

  void HandleCommandResult() {
    if (!registered_) {
      FinishOnce(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                              "the first message of a stream must be Hello"));
      return;
    }
    auto result =
        std::make_shared<mailfleet::v1::CommandResult>(std::move(*in_->mutable_command_result()));
    service_->queue_.Post([this, result] {
      // The stream's own host: an agent can settle only its own targets.
      absl::Status s =
          service_->store_.RecordResult(session_.host, *result, service_->clock_.Now());
      if (!s.ok()) {
        spdlog::error("agent {}: result of command {} not stored: {}", session_.host,
                      result->command_id(), s.message());
      }
      Read();
    });
  }

  AgentService* const service_;
  grpc::CallbackServerContext* const context_;
  PeerIdentity identity_;
  Session session_;
  bool registered_ = false;
  std::atomic<int64_t> last_activity_{0};
  // Starts the next read, into a message on an arena of its own: a LogBatch's thousands of
  // events and their repeated fields then take a few large blocks, freed together when the
  // batch is done, rather than a malloc and a free each. The message read before is then
  // freed, unless its batch holds its arena.
  void Read() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 64 << 10;
    options.max_block_size = 256 << 10;  // what a batch leaves unused stays small
    arena_ = std::make_shared<google::protobuf::Arena>(options);
    in_ = google::protobuf::Arena::CreateMessage<AgentMessage>(arena_.get());
    StartRead(in_);
  }

  std::shared_ptr<google::protobuf::Arena> arena_;  // the read chain's: see Read
  AgentMessage* in_ = nullptr;

  // Log batches read ahead of the store, and the groups being stored (see Group).
  static constexpr size_t kReadAhead = 24;
  static constexpr size_t kMinAhead = 2;     // batches a later group waits for
  static constexpr size_t kMaxGroup = 4;     // batches a group takes at most
  static constexpr size_t kMaxInFlight = 6;  // groups being stored at once
  absl::Mutex ingest_mu_;
  std::deque<std::shared_ptr<mailfleet::v1::LogBatch>> pending_ ABSL_GUARDED_BY(ingest_mu_);
  std::deque<std::shared_ptr<Group>> groups_ ABSL_GUARDED_BY(ingest_mu_);  // oldest first
  bool read_parked_ ABSL_GUARDED_BY(ingest_mu_) = false;  // no read pending: waits for room
  bool ingest_failed_ ABSL_GUARDED_BY(ingest_mu_) = false;
  bool done_ ABSL_GUARDED_BY(ingest_mu_) = false;  // OnDone ran

  absl::Mutex write_mu_;
  std::deque<CollectorMessage> outbox_ ABSL_GUARDED_BY(write_mu_);  // front: being written
  bool writing_ ABSL_GUARDED_BY(write_mu_) = false;
  std::optional<grpc::Status> finish_wanted_ ABSL_GUARDED_BY(write_mu_);
  bool finished_ ABSL_GUARDED_BY(write_mu_) = false;
  bool broken_ ABSL_GUARDED_BY(write_mu_) = false;  // a write failed: the call is cancelled
};

AgentService::AgentService(Store& store, WorkQueue& queue, const Clock& clock,
                           AgentServiceOptions options)
    : store_(store), queue_(queue), clock_(clock), options_(std::move(options)) {
  reaper_ = std::thread([this] { ReaperLoop(); });
}

AgentService::~AgentService() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  reaper_.join();
}

grpc::ServerBidiReactor<AgentMessage, CollectorMessage>* AgentService::Connect(
    grpc::CallbackServerContext* context) {
  return new Stream(this, context);
}

void AgentService::AddStream(Stream* stream) {
  absl::MutexLock lock(&mu_);
  streams_.insert(stream);
}

void AgentService::Register(Stream* stream) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = by_host_.emplace(stream->host(), stream);
  if (!inserted && it->second != stream) {
    spdlog::info("agent {} reconnected; closing its older stream", stream->host());
    it->second->Cancel();
    it->second = stream;
  }
}

void AgentService::Unregister(Stream* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
  auto it = by_host_.find(stream->host());
  if (it != by_host_.end() && it->second == stream) by_host_.erase(it);
}

std::vector<std::string> AgentService::ConnectedHosts() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> hosts;
  for (const auto& [name, stream] : by_host_) hosts.push_back(name);
  return hosts;
}

bool AgentService::SendCommand(const std::string& host, mailfleet::v1::Command command) {
  // Under mu_: a stream is unregistered (under mu_) before it is deleted.
  absl::MutexLock lock(&mu_);
  auto it = by_host_.find(host);
  if (it == by_host_.end()) return false;
  return it->second->SendCommand(std::move(command));
}

size_t AgentService::ConnectedCount() {
  absl::MutexLock lock(&mu_);
  return by_host_.size();
}

void AgentService::ReaperLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(1));
    auto now = clock_.SteadyNow();
    for (Stream* stream : streams_) {
      if (now - stream->last_activity() > options_.stale_after) {
        spdlog::warn("agent {} silent for over {}s; closing its stream",
                     stream->registered() ? stream->host() : "(before Hello)",
                     options_.stale_after.count());
        stream->Cancel();
      }
    }
  }
}

}  // namespace mailfleet::collector
