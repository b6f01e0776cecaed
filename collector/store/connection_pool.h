// At most `size` connections of one kind, each lent to one call at a time. Acquire hands out
// an idle connection, or nullptr with a slot counted: the caller connects outside the lock.
// Release takes it back, or frees the slot when it is null or no longer usable.
#pragma once

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace mailfleet::collector {

template <typename Conn>
class ConnectionPool {
 public:
  explicit ConnectionPool(int size) : size_(size) {}

  // Waits until an idle connection or a free slot exists.
  std::unique_ptr<Conn> Acquire() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &ConnectionPool::AvailableLocked));
    return TakeLocked();
  }
  // Without waiting: false when every slot is lent out.
  bool TryAcquire(std::unique_ptr<Conn>* conn) {
    absl::MutexLock lock(&mu_);
    if (!AvailableLocked()) return false;
    *conn = TakeLocked();
    return true;
  }
  void Release(std::unique_ptr<Conn> conn, bool usable) {
    absl::MutexLock lock(&mu_);
    if (conn != nullptr && usable) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }

 private:
  bool AvailableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !idle_.empty() || open_ < size_;
  }
  std::unique_ptr<Conn> TakeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (idle_.empty()) {
      ++open_;
      return nullptr;
    }
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }

  const int size_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // slots lent out or idle
};

}  // namespace mailfleet::collector
