// Wakes the log shipper when something changes in the folders of the followed files
// (inotify), so lines leave as soon as they are written; the shipper still polls as a
// fallback (inotify can be unavailable or out of watches, and misses changes on NFS).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace mailfleet::agent {

class FileWatcher {
 public:
  // Calls on_change (from the watcher's own thread) after changes in any of `dirs`. Folders
  // that cannot be watched are skipped and reported by status(). on_change returns how long
  // the watcher lets changes gather before it looks again: the shipper's linger, within which
  // a second wake would change nothing. So a file written line by line costs one wake per
  // linger rather than one per line.
  FileWatcher(const std::vector<std::string>& dirs,
              std::function<std::chrono::milliseconds()> on_change);
  // Stops the thread.
  ~FileWatcher();

  // Ok iff every folder is watched.
  const absl::Status& status() const { return status_; }

 private:
  void Loop();

  std::function<std::chrono::milliseconds()> on_change_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;  // an eventfd that ends the loop
  absl::Status status_;
  std::thread thread_;
};

}  // namespace mailfleet::agent
