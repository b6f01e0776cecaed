// The collector's services and the agent's uplink over real gRPC on loopback, on a real
// PostgreSQL.
#include <thread>

#include "agent/uplink/uplink.h"
#include "collector/server/agent_service.h"
#include "collector/server/control_service.h"
#include "collector/store/pg_store.h"
#include "common/version.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "mailfleet/v1/control.grpc.pb.h"
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
    agents_ = std::make_unique<AgentService>(
        *store_, *queue_, clock_,
        AgentServiceOptions{
            .collector_id = "it", .heartbeat_interval = seconds(1), .stale_after = seconds(10)});
    control_ =
        std::make_unique<ControlService>(*store_, ControlServiceOptions{.collector_id = "it"});
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

  void TearDown() override {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + seconds(2));
      server_->Wait();
    }
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
  struct RunningAgent {
    std::unique_ptr<agent::Uplink> uplink;
    std::thread thread;
    ~RunningAgent() {
      uplink->Stop();
      thread.join();
    }
  };
  std::unique_ptr<RunningAgent> StartAgent(const std::string& name, const std::string& postfix) {
    auto running = std::make_unique<RunningAgent>();
    running->uplink = std::make_unique<agent::Uplink>(
        agent::UplinkOptions{.target = target_,
                             .credentials = grpc::InsecureChannelCredentials(),
                             .agent_name = name,
                             .initial_backoff = std::chrono::milliseconds(50)},
        [postfix] {
          mailfleet::v1::Inventory inv;
          inv.set_postfix_version(postfix);
          inv.set_dovecot_version("2.3.19.1");
          return inv;
        },
        clock_);
    running->thread = std::thread([u = running->uplink.get()] { u->Run(); });
    return running;
  }

  RealClock clock_;
  std::unique_ptr<PgStore> store_;
  std::unique_ptr<WorkQueue> queue_;
  std::unique_ptr<AgentService> agents_;
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
