#include "agent/tail/file_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fmt/format.h"
#include "fmt/ranges.h"

namespace mailfleet::agent {

FileWatcher::FileWatcher(const std::vector<std::string>& dirs, std::function<void()> on_change)
    : on_change_(std::move(on_change)) {
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_fd_ < 0 || stop_fd_ < 0) {
    status_ = absl::UnavailableError(fmt::format(
        "inotify unavailable ({}); polling the log files instead", std::strerror(errno)));
    return;
  }
  std::vector<std::string> failed;
  for (const auto& dir : dirs) {
    if (inotify_add_watch(inotify_fd_, dir.c_str(),
                          IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                              IN_CLOSE_WRITE | IN_ATTRIB) < 0) {
      failed.push_back(fmt::format("{} ({})", dir, std::strerror(errno)));
    }
  }
  if (!failed.empty()) {
    status_ = absl::UnavailableError(fmt::format("cannot watch {}; those are polled instead",
                                                 fmt::format("{}", fmt::join(failed, ", "))));
  }
  thread_ = std::thread([this] { Loop(); });
}

FileWatcher::~FileWatcher() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
}

void FileWatcher::Loop() {
  alignas(inotify_event) char buffer[16384];
  for (;;) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    bool any = false;
    while (read(inotify_fd_, buffer, sizeof buffer) > 0) any = true;
    if (any) on_change_();
  }
}

}  // namespace mailfleet::agent
