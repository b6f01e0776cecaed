#include "agent/uplink/uplink.h"

#include <malloc.h>

#include <algorithm>
#include <random>
#include <thread>

#include "agent/uplink/backoff.h"
#include "common/absl_fmt.h"
#include "common/thread_name.h"
#include "common/tls.h"
#include "common/version.h"
#include "fmt/format.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/create_channel.h"
#include "mailfleet/v1/agent.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace mailfleet::agent {
namespace {

std::string RandomId() {
  std::random_device rd;
  return fmt::format("{:016x}", (static_cast<uint64_t>(rd()) << 32) | rd());
}

}  // namespace

std::chrono::milliseconds AdaptLinger(std::chrono::milliseconds current, int64_t lines,
                                      const UplinkOptions& options) {
  if (lines <= 0) return current;
  auto next = std::chrono::milliseconds(current.count() * options.lines_per_round / lines);
  return std::clamp(next, options.linger, std::max(options.linger, options.max_linger));
}

Uplink::Uplink(UplinkOptions options, std::function<mailfleet::v1::Inventory()> inventory,
               const Clock& clock)
    : options_(std::move(options)),
      inventory_(std::move(inventory)),
      clock_(clock),
      session_id_(RandomId()),
      linger_(options_.linger) {}

std::chrono::milliseconds Uplink::Wake() {
  absl::MutexLock lock(&stream_mu_);
  wake_ = true;
  return linger_;
}

void Uplink::Send(mailfleet::v1::AgentMessage message) {
  absl::MutexLock lock(&stream_mu_);
  outbox_.push_back(std::move(message));
}

void Uplink::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

bool Uplink::connected() {
  absl::MutexLock lock(&mu_);
  return connected_;
}

void Uplink::WaitFor(std::chrono::milliseconds delay) {
  // While the collector is away the tailer keeps watching the files (rotations are seen, and
  // renamed files stay open), without reading ahead.
  auto until = clock_.SteadyNow() + delay;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_.SteadyNow());
    if (left.count() <= 0) return;
    {
      absl::MutexLock lock(&mu_);
      auto step = options_.shipper != nullptr ? std::min(left, options_.poll_interval * 5) : left;
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(step))) return;
    }
    if (options_.shipper != nullptr) options_.shipper->Tick();
  }
}

void Uplink::Run() {
  Backoff backoff(options_.initial_backoff, options_.max_backoff,
                  std::random_device{}() ^ std::hash<std::string>{}(options_.agent_name));
  std::string last_error;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    auto started = clock_.SteadyNow();
    std::string why = RunStream();
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    // A stream that lived a while was a success: start the backoff over.
    if (clock_.SteadyNow() - started > std::chrono::seconds(30)) backoff.Reset();
    auto delay = backoff.Next();
    if (why != last_error || backoff.attempt() % 10 == 1) {
      spdlog::warn("{}; retrying in {} ms", why, delay.count());
      last_error = why;
    }
    WaitFor(delay);
  }
}

std::string Uplink::RunStream() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // What the agent receives is small (acks, commands), so its receive window need not grow:
  // without the bandwidth probe, each ack no longer brings a PING and its reply. The
  // collector's probe, sizing the window for the log lines it receives, stays on.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  // Our own backoff decides when to dial again; keep gRPC's reconnect short underneath it.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2'000);
  auto channel = grpc::CreateCustomChannel(options_.target, options_.credentials, args);
  auto stub = mailfleet::v1::AgentService::NewStub(channel);

  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return "stopping";
    context_ = &context;
  }
  auto clear_context = [&] {
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
    connected_ = false;
  };
  auto stream = stub->Connect(&context);

  mailfleet::v1::AgentMessage hello;
  auto* h = hello.mutable_hello();
  h->set_agent_name(options_.agent_name);
  h->set_protocol_version(kProtocolVersion);
  h->set_session_id(session_id_);
  *h->mutable_inventory() = inventory_();

  mailfleet::v1::CollectorMessage in;
  if (!stream->Write(hello) || !stream->Read(&in) || !in.has_welcome()) {
    grpc::Status status = stream->Finish();
    clear_context();
    if (status.ok()) return "the collector closed the stream before welcoming this agent";
    return ExplainConnectError(options_.target, status.error_code(), status.error_message());
  }
  auto interval = options_.default_heartbeat;
  if (in.welcome().heartbeat_interval_seconds() > 0) {
    interval = std::chrono::seconds(in.welcome().heartbeat_interval_seconds());
  }
  {
    absl::MutexLock lock(&mu_);
    connected_ = true;
  }
  spdlog::info("connected to collector {} at {} as {}", in.welcome().collector_id(),
               options_.target, options_.agent_name);

  LogShipper* shipper = options_.shipper;
  if (shipper != nullptr) shipper->OnStreamStart();

  // The reader ends when the stream breaks; it wakes the writer loop through reader_done, and
  // through `wake` when an ack makes room in the window.
  {
    absl::MutexLock lock(&stream_mu_);
    reader_done_ = false;
    wake_ = false;
    linger_ = options_.linger;
    acked_ = false;
  }
  std::thread reader([&] {
    NameThisThread("mf-uplink-read");
    mailfleet::v1::CollectorMessage message;
    while (stream->Read(&message)) {
      if (message.has_ack() && shipper != nullptr) {
        shipper->OnAck(message.ack());
        absl::MutexLock lock(&stream_mu_);
        acked_ = true;
      } else if (message.has_command() && options_.on_command) {
        options_.on_command(message.command());
      } else if (message.has_cancel() && options_.on_cancel) {
        options_.on_cancel(message.cancel().command_id());
      } else {
        spdlog::debug("collector message {} ignored by this agent version",
                      static_cast<int>(message.payload_case()));
      }
    }
    absl::MutexLock lock(&stream_mu_);
    reader_done_ = true;
  });

  uint64_t seq = 0;
  auto next_beat = clock_.SteadyNow() + interval;
  bool broken = false;
  // A round looks at the files and sends what the window allows. Rounds run when the poll
  // interval passes, when a file changed (at most once per linger), and when an ack frees the
  // window that the last round filled.
  auto last_round = clock_.SteadyNow() - options_.poll_interval;
  bool window_full = false;
  std::chrono::milliseconds linger = options_.linger;
  auto last_trim = clock_.SteadyNow();
  while (!broken) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    // Command results go first: an operator waits on them.
    for (;;) {
      mailfleet::v1::AgentMessage reply;
      {
        absl::MutexLock lock(&stream_mu_);
        if (outbox_.empty()) break;
        reply = outbox_.front();
      }
      if (!stream->Write(reply)) {
        broken = true;
        break;
      }
      absl::MutexLock lock(&stream_mu_);
      outbox_.pop_front();
    }
    if (broken) break;
    auto now = clock_.SteadyNow();
    bool round = false;
    if (shipper != nullptr) {
      absl::MutexLock lock(&stream_mu_);
      round = now - last_round >= options_.poll_interval || (wake_ && now - last_round >= linger) ||
              (acked_ && window_full);
      if (round) wake_ = false;
      acked_ = false;  // an ack matters only to a full window, now
    }
    int64_t lines = 0;  // sent in this round
    if (round) {
      last_round = now;
      shipper->Tick();
      window_full = false;
      // Each of the round's batches in turn; the last is freed with it.
      mailfleet::v1::AgentMessage out;
      while (!broken && !window_full) {
        int events = shipper->Next(&out);
        if (events == 0) {
          window_full = shipper->WindowFull();
          break;
        }
        lines += events;
        broken = !stream->Write(out);
        if (clock_.SteadyNow() >= next_beat) break;
      }
      if (lines > 0) {
        linger = AdaptLinger(linger, lines, options_);
        absl::MutexLock lock(&stream_mu_);
        linger_ = linger;
      }
    }
    // The round's batches are freed by now. glibc keeps freed memory in each thread's arena
    // (it returns only the top of a heap), so a busy minute would leave the agent's memory at
    // its high-water mark: give the free pages back once a second, and right after a round
    // far larger than usual (a burst after a quiet spell, a catch-up).
    if (lines > 0 && (lines > 2 * options_.lines_per_round ||
                      clock_.SteadyNow() - last_trim >= std::chrono::seconds(1))) {
      malloc_trim(0);
      last_trim = clock_.SteadyNow();
    }
    if (!broken && clock_.SteadyNow() >= next_beat) {
      mailfleet::v1::AgentMessage beat;
      beat.mutable_heartbeat()->set_seq(++seq);
      *beat.mutable_heartbeat()->mutable_sent_at() =
          google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
              std::chrono::duration_cast<std::chrono::microseconds>(clock_.Now().time_since_epoch())
                  .count());
      if (shipper != nullptr) shipper->FillHealth(beat.mutable_heartbeat());
      broken = !stream->Write(beat);
      next_beat = clock_.SteadyNow() + interval;
    }
    if (broken) break;
    absl::MutexLock lock(&stream_mu_);
    now = clock_.SteadyNow();
    auto until = [&](std::chrono::steady_clock::time_point t) {
      return std::max(std::chrono::milliseconds(0),
                      std::chrono::duration_cast<std::chrono::milliseconds>(t - now));
    };
    auto wait = until(next_beat);
    if (shipper != nullptr) wait = std::min(wait, until(last_round + options_.poll_interval));
    if (wake_) {
      // Lines are waiting: the next round is due when the linger has passed.
      wait = std::min(wait, until(last_round + linger));
      stream_mu_.AwaitWithTimeout(absl::Condition(
                                      +[](Uplink* u) ABSL_EXCLUSIVE_LOCKS_REQUIRED(u->stream_mu_) {
                                        return u->reader_done_ || u->acked_ || !u->outbox_.empty();
                                      },
                                      this),
                                  absl::FromChrono(wait));
    } else {
      stream_mu_.AwaitWithTimeout(absl::Condition(
                                      +[](Uplink* u) ABSL_EXCLUSIVE_LOCKS_REQUIRED(u->stream_mu_) {
                                        return u->reader_done_ || u->acked_ || u->wake_ ||
                                               !u->outbox_.empty();
                                      },
                                      this),
                                  absl::FromChrono(wait));
    }
    if (reader_done_) break;
  }
  {
    // Unless the collector ended the stream itself (its status is then the one to report),
    // cancel it so the reader's Read returns.
    absl::MutexLock lock(&stream_mu_);
    if (!reader_done_) context.TryCancel();
  }
  reader.join();
  grpc::Status status = stream->Finish();
  clear_context();
  if (status.ok()) return fmt::format("the collector at {} ended the stream", options_.target);
  return fmt::format(
      "stream to the collector ended: {}",
      ExplainConnectError(options_.target, status.error_code(), status.error_message()));
}

}  // namespace mailfleet::agent
