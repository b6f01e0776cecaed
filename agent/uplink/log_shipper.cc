#include "agent/uplink/log_shipper.h"

#include "common/absl_fmt.h"
#include "spdlog/spdlog.h"

namespace mailfleet::agent {

LogShipper::LogShipper(Tailer& tailer, LogShipperOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock), tailer_(tailer) {
  // Save at once: a restart after this one is then never a first start, so files rotated
  // from now on are read even if this process dies before its first ack.
  absl::MutexLock lock(&mu_);
  tailer_.Scan();
  absl::Status s = SaveLocked();
  if (!s.ok()) spdlog::error("checkpoint: {}", s.message());
}

void LogShipper::OnStreamStart() {
  absl::MutexLock lock(&mu_);
  in_flight_.clear();
  tailer_.Rewind();
}

int LogShipper::Next(mailfleet::v1::AgentMessage* message) {
  absl::MutexLock lock(&mu_);
  message->Clear();
  if (in_flight_.size() >= options_.window || !tailer_.NextBatch(&batch_)) return 0;
  const uint64_t batch_id = next_batch_id_++;
  const int events = batch_.events();
  in_flight_.push_back({batch_id, batch_.source_id, batch_.last_end_offset(), events});
  ++stats_.batches_sent;
  stats_.events_sent += static_cast<uint64_t>(events);
  batch_.MoveInto(batch_id, message);
  return events;
}

void LogShipper::OnAck(const mailfleet::v1::Ack& ack) {
  absl::MutexLock lock(&mu_);
  // Acks come in order; one acks every batch up to its id.
  while (!in_flight_.empty() && in_flight_.front().batch_id <= ack.batch_id()) {
    const InFlight& f = in_flight_.front();
    tailer_.Acked(f.source_id, f.end_offset);
    stats_.events_acked += static_cast<uint64_t>(f.events);
    in_flight_.pop_front();
    dirty_ = true;
  }
}

bool LogShipper::WindowFull() {
  absl::MutexLock lock(&mu_);
  return in_flight_.size() >= options_.window;
}

void LogShipper::Tick() {
  absl::MutexLock lock(&mu_);
  tailer_.Scan();
  if (dirty_ && clock_.SteadyNow() - last_save_ >= options_.checkpoint_every) {
    absl::Status s = SaveLocked();
    if (!s.ok()) spdlog::error("checkpoint: {}", s.message());
  }
}

absl::Status LogShipper::SaveNow() {
  absl::MutexLock lock(&mu_);
  return SaveLocked();
}

absl::Status LogShipper::SaveLocked() {
  last_save_ = clock_.SteadyNow();
  dirty_ = false;
  return SaveCheckpoint(options_.checkpoint_path, tailer_.Snapshot());
}

ShipperStats LogShipper::stats() {
  absl::MutexLock lock(&mu_);
  ShipperStats s = stats_;
  s.in_flight = in_flight_.size();
  return s;
}

void LogShipper::FillHealth(mailfleet::v1::Heartbeat* heartbeat) {
  absl::MutexLock lock(&mu_);
  auto now = clock_.SteadyNow();
  std::map<std::string, std::chrono::steady_clock::time_point> still_there;
  for (const SourceStatus& st : tailer_.Status()) {
    auto* h = heartbeat->add_sources();
    h->set_source_id(st.source_id);
    h->set_path(st.path);
    h->set_live(st.live);
    h->set_lines_read(st.lines_read);
    h->set_read_offset(st.read_offset);
    h->set_acked_offset(st.acked_offset);
    h->set_size(st.size);
    bool compressed = st.path.ends_with(".gz");
    uint64_t lag = !compressed && st.size > st.acked_offset ? st.size - st.acked_offset : 0;
    h->set_lag_bytes(lag);
    auto it = caught_up_.find(st.source_id);
    auto since = lag == 0 || it == caught_up_.end() ? now : it->second;
    still_there[st.source_id] = since;
    h->set_lag_seconds(static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(now - since).count()));
  }
  caught_up_ = std::move(still_there);
  heartbeat->set_events_sent(stats_.events_sent);
  heartbeat->set_events_acked(stats_.events_acked);
  heartbeat->set_batches_in_flight(static_cast<uint32_t>(in_flight_.size()));
}

}  // namespace mailfleet::agent
