// Worker threads running posted tasks. gRPC callbacks must never block, so they post their
// store work here and continue the stream from the task. With one thread tasks run in the
// order posted; with more, in parallel (each agent stream has at most one task at a time).
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
  // Runs every task already posted, then joins the worker.
  ~WorkQueue();

  // Thread-safe. Tasks run one at a time, in the order posted.
  void Post(std::function<void()> task);

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace mailfleet::collector
