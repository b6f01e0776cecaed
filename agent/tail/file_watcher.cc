#include "agent/tail/file_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/thread_name.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace mailfleet::agent {

FileWatcher::FileWatcher(const std::vector<std::string>& dirs,
                         std::function<std::chrono::milliseconds()> on_change)
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
  thread_ = std::thread([this] {
    NameThisThread("mf-watch");
    Loop();
  });
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
    if (!any) continue;
    // Events of the settle time queue up in the inotify fd (the kernel merges repeats) and
    // are read together after it; only a stop ends the wait early.
    const std::chrono::milliseconds settle = on_change_();
    for (auto until = std::chrono::steady_clock::now() + settle;;) {
      auto left =
          std::chrono::ceil<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd stop = {stop_fd_, POLLIN, 0};
      int n = poll(&stop, 1, static_cast<int>(left.count()));
      if (n > 0) return;
      if (n < 0 && errno != EINTR) break;
    }
  }
}

}  // namespace mailfleet::agent
