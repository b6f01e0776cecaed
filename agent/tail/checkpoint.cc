#include "agent/tail/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fmt/format.h"

namespace mailfleet::agent {

absl::StatusOr<Checkpoint> LoadCheckpoint(const std::string& path) {
  Checkpoint cp;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return cp;
    return absl::PermissionDeniedError(
        fmt::format("cannot read checkpoint {}: {}", path, std::strerror(errno)));
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::istringstream fields(line);
    if (number == 1) {
      std::string magic;
      if (!(fields >> magic >> cp.saved_at) || magic != "mailfleet-checkpoint-v1") {
        return absl::DataLossError(fmt::format(
            "checkpoint {} line 1: not a mailfleet checkpoint; move it away to start over", path));
      }
      continue;
    }
    SourceCheckpoint s;
    int done = 0;
    if (!(fields >> s.source_id >> s.fingerprint_hash >> s.dev >> s.ino >> s.offset >> s.mtime >>
          done)) {
      return absl::DataLossError(fmt::format(
          "checkpoint {} line {}: damaged; move the file away to start over", path, number));
    }
    s.done = done != 0;
    fields.get();  // the space before the path
    std::getline(fields, s.path);
    cp.sources[s.source_id] = std::move(s);
  }
  return cp;
}

absl::Status SaveCheckpoint(const std::string& path, const Checkpoint& checkpoint) {
  std::string text = fmt::format("mailfleet-checkpoint-v1 {}\n", checkpoint.saved_at);
  for (const auto& [id, s] : checkpoint.sources) {
    fmt::format_to(std::back_inserter(text), "{} {} {} {} {} {} {} {}\n", s.source_id,
                   s.fingerprint_hash, s.dev, s.ino, s.offset, s.mtime, s.done ? 1 : 0, s.path);
  }
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        fmt::format("cannot write checkpoint {}: {}", tmp, std::strerror(errno)));
  }
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      close(fd);
      return absl::ResourceExhaustedError(
          fmt::format("cannot write checkpoint {}: {}", tmp, std::strerror(e)));
    }
    written += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    return absl::DataLossError(
        fmt::format("cannot sync checkpoint {}: {}", tmp, std::strerror(errno)));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::DataLossError(
        fmt::format("cannot rename {} to {}: {}", tmp, path, std::strerror(errno)));
  }
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace mailfleet::agent
