#include "collector/server/dispatcher.h"

#include <algorithm>

#include "common/absl_fmt.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace mailfleet::collector {
namespace {

// How often the claim loop looks without being woken (a notification missed while the
// listening connection was down), and expires what waited too long.
constexpr absl::Duration kSweep = absl::Seconds(1);

}  // namespace

Dispatcher::Dispatcher(Store& store, AgentService& agents, const Clock& clock,
                       std::string collector_id)
    : store_(store), agents_(agents), clock_(clock), collector_id_(std::move(collector_id)) {}

Dispatcher::~Dispatcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (loop_.joinable()) loop_.join();
  subscription_.reset();
}

absl::Status Dispatcher::Start() {
  ASSIGN_OR_RETURN(subscription_,
                   store_.Listen({kCommandsChannel, kResultsChannel},
                                 [this](const std::string& channel, const std::string&) {
                                   absl::MutexLock lock(&mu_);
                                   if (channel == kCommandsChannel) {
                                     wake_ = true;
                                   } else {
                                     ++results_seq_;
                                   }
                                 }));
  loop_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Dispatcher::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

uint64_t Dispatcher::results_seq() {
  absl::MutexLock lock(&mu_);
  return results_seq_;
}

bool Dispatcher::AwaitResults(uint64_t* seen, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  struct Args {
    Dispatcher* d;
    uint64_t seen;
  } args{this, *seen};
  mu_.AwaitWithDeadline(absl::Condition(
                            +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                              return a->d->stopping_ || a->d->results_seq_ != a->seen;
                            },
                            &args),
                        deadline);
  *seen = results_seq_;
  return !stopping_;
}

void Dispatcher::Claim() {
  std::vector<std::string> hosts = agents_.ConnectedHosts();
  if (hosts.empty()) return;
  auto claimed = store_.ClaimCommands(hosts, collector_id_, clock_.Now());
  if (!claimed.ok()) {
    spdlog::warn("commands: cannot claim: {}", claimed.status().message());
    return;
  }
  // In the order they were given: a hold and then a release of the same host stay so.
  std::sort(claimed->begin(), claimed->end(),
            [](const Claimed& a, const Claimed& b) { return a.command_id < b.command_id; });
  for (auto& item : *claimed) {
    spdlog::info("command {}: {} to {}", item.command_id, item.command.action(), item.host);
    if (!agents_.SendCommand(item.host, std::move(item.command))) {
      // Its stream ended between the claim and now: give it back for the next stream.
      absl::Status s = store_.Unclaim(item.command_id, item.host);
      if (!s.ok()) spdlog::warn("command {}: {}", item.command_id, s.message());
    }
  }
}

void Dispatcher::Loop() {
  absl::Time next_sweep = absl::Now();
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithDeadline(absl::Condition(
                                +[](Dispatcher* d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d->mu_) {
                                  return d->wake_ || d->stopping_;
                                },
                                this),
                            next_sweep);
      if (stopping_) return;
      wake_ = false;
    }
    Claim();
    if (absl::Now() >= next_sweep) {
      absl::Status s = store_.ExpireCommands(clock_.Now());
      if (!s.ok()) spdlog::warn("commands: {}", s.message());
      next_sweep = absl::Now() + kSweep;
    }
  }
}

}  // namespace mailfleet::collector
