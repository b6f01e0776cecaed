// Worker threads running posted tasks. gRPC callbacks must never block, so they post their
// store work here and continue the stream from the task. With one thread tasks run in the
// order posted; with more, in parallel (an agent stream's read chain has at most one task at
// a time, and its log store one per group in flight).
#pragma once

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace mailfleet::collector {

class WorkQueue {
 public:
  explicit WorkQueue(int threads = 1);
  // Stop(), if not called before.
  ~WorkQueue();

  // Thread-safe. Tasks start in the order posted.
  void Post(std::function<void()> task);
  // Runs every task already posted (and those they post), then joins the workers. Call it
  // while what the tasks use still exists.
  void Stop();

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace mailfleet::collector
