#include "agent/tail/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/absl_fmt.h"
#include "common/files.h"
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
  absl::Status saved = WriteFileAtomically(path, text);
  if (!saved.ok()) {
    return absl::Status(saved.code(), fmt::format("checkpoint: {}", saved.message()));
  }
  return absl::OkStatus();
}

}  // namespace mailfleet::agent
