// The collector's services and the agent's uplink over real gRPC on loopback, on a real
// PostgreSQL.
#include <functional>
#include <thread>

#include "agent/exec/action_runner.h"
#include "agent/exec/command_executor.h"
#include "agent/uplink/uplink.h"
#include "collector/server/agent_service.h"
#include "collector/server/control_service.h"
#include "collector/store/pg_store.h"
#include "common/version.h"
#include "fmt/format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "mailfleet/v1/control.grpc.pb.h"
#include "tests/fakes/fake_process_runner.h"
#include "tests/integration/pg_test_support.h"

namespace mailfleet::collector {
namespace {

using std::chrono::seconds;

// Polls `condition` every 50 ms for up to `limit`.
template <typename Fn>
bool Eventually(Fn condition, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

class GrpcTest : public mailfleet::testing::FreshDatabaseTest {
 protected:
  void SetUp() override {
    FreshDatabaseTest::SetUp();
    if (HasFatalFailure()) return;
    auto store = PgStore::Create(conninfo(), {.stale_after = seconds(30)});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    queue_ = std::make_unique<WorkQueue>();
    agents_ =
        std::make_unique<AgentService>(*store_, *queue_, clock_,
                                       AgentServiceOptions{.collector_id = "it",
                                                           .heartbeat_interval = seconds(1),
                                                           .stale_after = seconds(10),
                                                           .max_held_batches = MaxHeldBatches()});
    dispatcher_ = std::make_unique<Dispatcher>(*store_, *agents_, clock_, "it");
    ASSERT_TRUE(dispatcher_->Start().ok());
    agents_->SetOnRegistered([d = dispatcher_.get()] { d->Wake(); });
    control_ = std::make_unique<ControlService>(
        *store_, ControlServiceOptions{.collector_id = "it"}, *dispatcher_);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(agents_.get());
    builder.RegisterService(control_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    target_ = "127.0.0.1:" + std::to_string(port_);
    control_stub_ = mailfleet::v1::ControlService::NewStub(
        grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()));
  }

  virtual int64_t MaxHeldBatches() { return 512; }

  void TearDown() override {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + seconds(2));
      server_->Wait();
    }
    if (queue_) queue_->Stop();
    dispatcher_.reset();
    agents_.reset();
    queue_.reset();
    store_.reset();
    FreshDatabaseTest::TearDown();
  }

  std::vector<mailfleet::v1::Host> Hosts() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(5));
    mailfleet::v1::ListHostsResponse response;
    auto status = control_stub_->ListHosts(&ctx, {}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.hosts().begin(), response.hosts().end()};
  }

  bool Connected(const std::string& name, bool want) {
    for (const auto& h : Hosts()) {
      if (h.name() == name) return h.connected() == want;
    }
    return false;
  }

  // An uplink running in its own thread until the returned guard is destroyed.
  // An agent's uplink in its own thread until destroyed; with a runner, it runs commands
  // through an ActionRunner on it (as mailfleet-agent does), replying on the uplink.
  struct RunningAgent {
    std::unique_ptr<agent::ActionRunner> actions;
    std::unique_ptr<agent::Uplink> uplink;
    std::unique_ptr<agent::CommandExecutor> executor;
    std::thread thread;
    ~RunningAgent() {
      uplink->Stop();
      thread.join();
      executor.reset();
    }
  };
  std::unique_ptr<RunningAgent> StartAgent(const std::string& name, const std::string& postfix,
                                           ProcessRunner* runner = nullptr) {
    auto running = std::make_unique<RunningAgent>();
    RunningAgent* r = running.get();
    if (runner != nullptr) {
      running->actions = std::make_unique<agent::ActionRunner>(
          *runner, clock_, agent::ActionRunnerOptions{.postfix_config_dir = "/etc/pf-" + name});
    }
    running->uplink = std::make_unique<agent::Uplink>(
        agent::UplinkOptions{.target = target_,
                             .credentials = grpc::InsecureChannelCredentials(),
                             .agent_name = name,
                             .initial_backoff = std::chrono::milliseconds(50),
                             .on_command =
                                 [r](const mailfleet::v1::Command& c) {
                                   if (r->executor) r->executor->Submit(c);
                                 }},
        [postfix] {
          mailfleet::v1::Inventory inv;
          inv.set_postfix_version(postfix);
          inv.set_dovecot_version("2.3.19.1");
          return inv;
        },
        clock_);
    if (running->actions) {
      running->executor = std::make_unique<agent::CommandExecutor>(
          *running->actions, 2, [r](mailfleet::v1::CommandResult result) {
            mailfleet::v1::AgentMessage m;
            *m.mutable_command_result() = std::move(result);
            r->uplink->Send(std::move(m));
          });
    }
    running->thread = std::thread([u = running->uplink.get()] { u->Run(); });
    return running;
  }

  // RunCommand to the end: the events in order, and the call's status.
  std::pair<std::vector<mailfleet::v1::CommandEvent>, grpc::Status> Command(
      const mailfleet::v1::CommandRequest& request) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(30));
    auto reader = control_stub_->RunCommand(&ctx, request);
    std::vector<mailfleet::v1::CommandEvent> events;
    mailfleet::v1::CommandEvent e;
    while (reader->Read(&e)) events.push_back(e);
    return {events, reader->Finish()};
  }

  RealClock clock_;
  std::unique_ptr<PgStore> store_;
  std::unique_ptr<WorkQueue> queue_;
  std::unique_ptr<AgentService> agents_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<ControlService> control_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string target_;
  std::unique_ptr<mailfleet::v1::ControlService::Stub> control_stub_;
};

TEST_F(GrpcTest, AgentRegistersAndItsDisconnectIsSeen) {
  {
    auto agent = StartAgent("h1", "3.7.10");
    ASSERT_TRUE(Eventually([&] { return Connected("h1", true); }));
    auto hosts = Hosts();
    ASSERT_EQ(hosts.size(), 1u);
    EXPECT_EQ(hosts[0].inventory().postfix_version(), "3.7.10");
    EXPECT_EQ(hosts[0].collector_id(), "it");
    EXPECT_EQ(agents_->ConnectedCount(), 1u);
  }
  EXPECT_TRUE(Eventually([&] { return Connected("h1", false); }));
}

TEST_F(GrpcTest, ARestartedAgentUpdatesItsHostAndNeverDuplicatesIt) {
  {
    auto agent = StartAgent("h1", "3.7.10");
    ASSERT_TRUE(Eventually([&] { return Connected("h1", true); }));
  }
  ASSERT_TRUE(Eventually([&] { return Connected("h1", false); }));
  auto agent = StartAgent("h1", "3.7.11");
  ASSERT_TRUE(Eventually([&] {
    auto hosts = Hosts();
    return hosts.size() == 1 && hosts[0].connected() &&
           hosts[0].inventory().postfix_version() == "3.7.11";
  }));
  EXPECT_EQ(QueryOne("SELECT count(*) FROM hosts"), "1");
}

TEST_F(GrpcTest, SeveralAgentsAtOnce) {
  std::vector<std::unique_ptr<RunningAgent>> fleet;
  for (int i = 1; i <= 5; ++i) fleet.push_back(StartAgent("h" + std::to_string(i), "3.7.11"));
  ASSERT_TRUE(Eventually([&] {
    int connected = 0;
    for (const auto& h : Hosts()) connected += h.connected();
    return connected == 5;
  }));
}

TEST_F(GrpcTest, HeartbeatsKeepLastSeenMoving) {
  auto agent = StartAgent("h1", "3.7.11");
  ASSERT_TRUE(Eventually([&] { return Connected("h1", true); }));
  auto first = Hosts()[0].last_seen();
  EXPECT_TRUE(Eventually([&] { return Hosts()[0].last_seen().seconds() > first.seconds(); },
                         std::chrono::seconds(5)));
}

TEST_F(GrpcTest, ACommandReachesItsAgentsThroughPostgresAndResultsStreamBack) {
  mailfleet::testing::FakeProcessRunner runner;
  for (const char* host : {"h1", "h2"}) {
    runner.Answer({"postqueue", "-c", fmt::format("/etc/pf-{}", host), "-j"},
                  {.exit_code = 0,
                   .out = fmt::format(R"({{"queue_name": "deferred", "queue_id": "3F1A2B4C5D", )"
                                      R"("arrival_time": 1, "message_size": 10, "sender": )"
                                      R"("a@{}.example", "recipients": []}})"
                                      "\n",
                                      host)});
  }
  auto h1 = StartAgent("h1", "3.7.11", &runner);
  auto h2 = StartAgent("h2", "3.7.11", &runner);
  auto h3 = StartAgent("h3", "3.7.11");  // connected, then gone
  ASSERT_TRUE(Eventually([&] { return Connected("h1", true) && Connected("h2", true); }));
  ASSERT_TRUE(Eventually([&] { return Connected("h3", true); }));
  h3.reset();
  ASSERT_TRUE(Eventually([&] { return Connected("h3", false); }));

  mailfleet::v1::CommandRequest request;
  request.set_action("queue.list");
  request.set_all_hosts(true);
  request.set_local_user("alice");
  auto [events, status] = Command(request);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_GE(events.size(), 5u);
  ASSERT_TRUE(events.front().has_accepted());
  EXPECT_EQ(events.front().accepted().risk(), "read");
  ASSERT_TRUE(events.back().has_done());
  EXPECT_EQ(events.back().done().ok(), 2u);
  EXPECT_EQ(events.back().done().not_run(), 1u);
  std::map<std::string, mailfleet::v1::HostResult> results;
  for (const auto& e : events) {
    if (e.has_result()) results[e.result().host()] = e.result();
  }
  EXPECT_EQ(results["h3"].status(), "offline");
  ASSERT_EQ(results["h1"].status(), "ok") << results["h1"].error();
  ASSERT_EQ(results["h1"].result().messages_size(), 1);
  EXPECT_EQ(results["h1"].result().messages(0).sender(), "a@h1.example");
  EXPECT_EQ(results["h2"].result().messages(0).sender(), "a@h2.example");

  // The audit log has it: who, what, and each host's outcome.
  EXPECT_EQ(QueryOne("SELECT requested_by FROM commands"), "alice (unauthenticated (plaintext))");
  EXPECT_EQ(QueryOne("SELECT string_agg(host || '=' || state, ',' ORDER BY host) "
                     "FROM command_targets"),
            "h1=ok,h2=ok,h3=offline");
}

TEST_F(GrpcTest, LogAndStatsFiltersThatCannotMatchAreErrors) {
  auto h1 = StartAgent("h1", "3.7.11");
  ASSERT_TRUE(Eventually([&] { return Connected("h1", true); }));
  auto at = [](int64_t seconds) {
    google::protobuf::Timestamp t;
    t.set_seconds(seconds);
    return t;
  };
  struct Case {
    std::function<void(mailfleet::v1::LogQuery*)> set;
    grpc::StatusCode code;
    std::string says;
  } cases[] = {
      {[](auto* q) { q->add_hosts("h9"); }, grpc::StatusCode::NOT_FOUND, "no host named h9"},
      {[](auto* q) {
         q->add_hosts("h1");
         q->add_hosts("h8");
       },
       grpc::StatusCode::NOT_FOUND, "no host named h8"},
      {[&](auto* q) {
         *q->mutable_since() = at(2000);
         *q->mutable_until() = at(1000);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "the window is empty"},
      {[&](auto* q) {
         *q->mutable_since() = at(1000);
         *q->mutable_until() = at(1000);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "the window is empty"},
      {[](auto* q) { q->set_status("delivered"); }, grpc::StatusCode::INVALID_ARGUMENT,
       "use one of sent, deferred"},
      {[](auto* q) { q->set_queue_id("4F2A61C0B3' OR 1=1"); }, grpc::StatusCode::INVALID_ARGUMENT,
       "not a Postfix queue id"},
  };
  for (const auto& c : cases) {
    mailfleet::v1::QueryLogsRequest request;
    c.set(request.mutable_query());
    mailfleet::v1::QueryLogsResponse response;
    grpc::ClientContext ctx;
    auto status = control_stub_->QueryLogs(&ctx, request, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.says << ": " << status.error_message();
    EXPECT_NE(status.error_message().find(c.says), std::string::npos) << status.error_message();
  }
  // The same checks guard --follow and stats.
  {
    mailfleet::v1::FollowLogsRequest request;
    request.mutable_query()->add_hosts("h9");
    grpc::ClientContext ctx;
    auto reader = control_stub_->FollowLogs(&ctx, request);
    mailfleet::v1::StoredEvent e;
    EXPECT_FALSE(reader->Read(&e));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    mailfleet::v1::StatsRequest request;
    *request.mutable_since() = at(2000);
    *request.mutable_until() = at(1000);
    mailfleet::v1::StatsResponse response;
    grpc::ClientContext ctx;
    EXPECT_EQ(control_stub_->GetStats(&ctx, request, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // Good filters still answer: a known host, a real status, a queue id, a proper window.
  mailfleet::v1::QueryLogsRequest request;
  request.mutable_query()->add_hosts("h1");
  request.mutable_query()->set_status("deferred");
  request.mutable_query()->set_queue_id("4F2A61C0B3");
  *request.mutable_query()->mutable_since() = at(1000);
  *request.mutable_query()->mutable_until() = at(2000);
  mailfleet::v1::QueryLogsResponse response;
  grpc::ClientContext ctx;
  auto status = control_stub_->QueryLogs(&ctx, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.events_size(), 0);
}

TEST_F(GrpcTest, BadCommandsAreRefusedBeforeAnythingIsRecorded) {
  auto h1 = StartAgent("h1", "3.7.11");
  ASSERT_TRUE(Eventually([&] { return Connected("h1", true); }));
  struct Case {
    std::string action;
    std::vector<std::string> hosts;
    std::string id;
    grpc::StatusCode code;
    std::string says;
  } cases[] = {
      {"queue.hold", {"h1"}, "ABC; rm -rf /", grpc::StatusCode::INVALID_ARGUMENT, "queue id"},
      {"queue.hold", {"h1"}, "ALL", grpc::StatusCode::INVALID_ARGUMENT, "--everything"},
      {"shell.run", {"h1"}, "", grpc::StatusCode::INVALID_ARGUMENT, "no action 'shell.run'"},
      {"queue.list", {"h9"}, "", grpc::StatusCode::NOT_FOUND, "no host named h9"},
      {"queue.list", {}, "", grpc::StatusCode::INVALID_ARGUMENT, "--host"},
  };
  for (const auto& c : cases) {
    mailfleet::v1::CommandRequest request;
    request.set_action(c.action);
    for (const auto& h : c.hosts) request.add_hosts(h);
    if (!c.id.empty()) request.mutable_filter()->add_queue_ids(c.id);
    auto [events, status] = Command(request);
    EXPECT_EQ(status.error_code(), c.code) << c.action << " " << c.id;
    EXPECT_NE(status.error_message().find(c.says), std::string::npos) << status.error_message();
    EXPECT_TRUE(events.empty());
  }
  EXPECT_EQ(QueryOne("SELECT count(*) FROM commands"), "0");
}

TEST_F(GrpcTest, ACommandQueuedForAnOfflineHostRunsWhenItReturns) {
  mailfleet::testing::FakeProcessRunner runner;
  runner.Answer({"postqueue", "-c", "/etc/pf-h1", "-j"}, {.exit_code = 0, .out = ""});
  runner.Answer({"postqueue", "-c", "/etc/pf-h1", "-f"}, {.exit_code = 0, .out = ""});
  {
    auto h1 = StartAgent("h1", "3.7.11");
    ASSERT_TRUE(Eventually([&] { return Connected("h1", true); }));
  }
  ASSERT_TRUE(Eventually([&] { return Connected("h1", false); }));
  mailfleet::v1::CommandRequest request;
  request.set_action("queue.flush");
  request.add_hosts("h1");
  request.set_queue_offline(true);
  auto [events, status] = Command(request);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(events.back().has_done());
  EXPECT_EQ(events.back().done().queued(), 1u);
  auto h1 = StartAgent("h1", "3.7.11", &runner);
  EXPECT_TRUE(Eventually([&] { return QueryOne("SELECT state FROM command_targets") == "ok"; }));
  auto calls = runner.calls();
  EXPECT_NE(std::find(calls.begin(), calls.end(),
                      std::vector<std::string>{"postqueue", "-c", "/etc/pf-h1", "-f"}),
            calls.end());
}

// Raw stream: what a misbehaving or foreign client gets.
grpc::Status SendOnly(const std::string& target, const mailfleet::v1::AgentMessage& message) {
  auto stub = mailfleet::v1::AgentService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + seconds(5));
  auto stream = stub->Connect(&ctx);
  stream->Write(message);
  mailfleet::v1::CollectorMessage in;
  while (stream->Read(&in)) {
  }
  return stream->Finish();
}

// An agent stream sending log batches back to back, its acks read alongside.
class LogStream {
 public:
  LogStream(const std::string& target, const std::string& name, const std::string& session) {
    stub_ = mailfleet::v1::AgentService::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    stream_ = stub_->Connect(&ctx_);
    mailfleet::v1::AgentMessage hello;
    hello.mutable_hello()->set_agent_name(name);
    hello.mutable_hello()->set_protocol_version(kProtocolVersion);
    hello.mutable_hello()->set_session_id(session);
    stream_->Write(hello);
    reader_ = std::thread([this] {
      mailfleet::v1::CollectorMessage m;
      while (stream_->Read(&m)) {
        if (!m.has_ack()) continue;
        absl::MutexLock lock(&mu_);
        acked_ = m.ack().batch_id();
        inserted_ += m.ack().inserted();
      }
    });
  }
  ~LogStream() {
    stream_->WritesDone();
    ctx_.TryCancel();
    reader_.join();
  }
  // Batch `id` of source "s": lines first..last ("line N" each), offsets as in a file.
  void Send(uint64_t id, int first, int last) {
    mailfleet::v1::AgentMessage m;
    auto* b = m.mutable_log_batch();
    b->set_batch_id(id);
    b->set_source_id("s");
    b->set_path("/var/log/mail.log");
    b->set_first_offset(Offset(first - 1));
    for (int i = first; i <= last; ++i) {
      auto* e = b->add_events();
      e->set_raw(fmt::format("line {:06}", i));
      e->set_end_offset(Offset(i));
      e->set_size(-1);
      e->set_nrcpt(-1);
      e->set_delay(-1);
    }
    ASSERT_TRUE(stream_->Write(m));
  }
  bool WaitAcked(uint64_t id) {
    absl::MutexLock lock(&mu_);
    std::pair<const uint64_t*, uint64_t> want(&acked_, id);
    return mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::pair<const uint64_t*, uint64_t>* w) { return *w->first >= w->second; }, &want),
        absl::Seconds(60));
  }
  uint64_t inserted() {
    absl::MutexLock lock(&mu_);
    return inserted_;
  }
  static uint64_t Offset(int line) { return static_cast<uint64_t>(line) * 12; }  // "line NNNNNN\n"

 private:
  std::unique_ptr<mailfleet::v1::AgentService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<
      grpc::ClientReaderWriter<mailfleet::v1::AgentMessage, mailfleet::v1::CollectorMessage>>
      stream_;
  std::thread reader_;
  absl::Mutex mu_;
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t inserted_ ABSL_GUARDED_BY(mu_) = 0;
};

// Batches sent faster than one transaction stores them: the collector stores the next
// group's lines while the one before commits, and every line is stored once, also when a
// new stream replays an overlapping stretch.
TEST_F(GrpcTest, LogBatchesStoredAheadArriveExactlyOnce) {
  {
    LogStream s(target_, "h1", "a");
    for (int b = 0; b < 60; ++b) s.Send(b + 1, b * 500 + 1, b * 500 + 500);
    ASSERT_TRUE(s.WaitAcked(60));
    EXPECT_EQ(s.inserted(), 30000u);
  }
  EXPECT_GT(agents_->groups_stored_ahead(), 0u);
  {
    // A reconnect that sends again from line 20,001, then new lines to 40,000.
    LogStream s(target_, "h1", "b");
    for (int b = 40; b < 80; ++b) s.Send(b + 1, b * 500 + 1, b * 500 + 500);
    ASSERT_TRUE(s.WaitAcked(80));
    EXPECT_EQ(s.inserted(), 10000u);
  }
  EXPECT_EQ(
      QueryOne("SELECT count(*) || '/' || count(DISTINCT raw) || '/' || max(raw) FROM events"),
      "40000/40000/line 040000");
  EXPECT_EQ(QueryOne("SELECT watermark FROM log_sources"),
            std::to_string(LogStream::Offset(40000)));
}

// With the collector's budget for held batches spent, a stream reads on only as its own
// batches are stored: everything still arrives, once, and nothing stays counted.
class GrpcTightBudgetTest : public GrpcTest {
 protected:
  int64_t MaxHeldBatches() override { return 1; }
};

TEST_F(GrpcTightBudgetTest, StreamsOverTheBudgetWaitTheirTurnAndLoseNothing) {
  {
    LogStream a(target_, "h1", "a");
    LogStream b(target_, "h2", "b");
    for (int i = 0; i < 30; ++i) {
      a.Send(i + 1, i * 100 + 1, i * 100 + 100);
      b.Send(i + 1, i * 100 + 1, i * 100 + 100);
    }
    ASSERT_TRUE(a.WaitAcked(30));
    ASSERT_TRUE(b.WaitAcked(30));
  }
  EXPECT_EQ(QueryOne("SELECT count(*) || '/' || count(DISTINCT (host, raw)) FROM events"),
            "6000/6000");
  EXPECT_TRUE(Eventually([&] { return agents_->held_batches() == 0; }));
}

TEST_F(GrpcTest, HelloWithAnInvalidNameIsRefused) {
  mailfleet::v1::AgentMessage m;
  m.mutable_hello()->set_agent_name("h1; rm -rf /");
  m.mutable_hello()->set_protocol_version(kProtocolVersion);
  auto status = SendOnly(target_, m);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("--name"), std::string::npos) << status.error_message();
  EXPECT_TRUE(Hosts().empty());
}

TEST_F(GrpcTest, TheFirstMessageMustBeHello) {
  mailfleet::v1::AgentMessage m;
  m.mutable_heartbeat()->set_seq(1);
  auto status = SendOnly(target_, m);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(GrpcTest, AnotherProtocolVersionIsRefusedWithAdvice) {
  mailfleet::v1::AgentMessage m;
  m.mutable_hello()->set_agent_name("h1");
  m.mutable_hello()->set_protocol_version(kProtocolVersion + 1);
  auto status = SendOnly(target_, m);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("upgrade"), std::string::npos);
}

}  // namespace
}  // namespace mailfleet::collector
