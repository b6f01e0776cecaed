// The agent's checkpoint: per source, the last offset the collector acknowledged. Written
// atomically (temp file, fsync, rename, fsync of the folder), so after a crash the agent
// resumes from an acked offset and never skips a line; lines after it may be sent again and
// the collector's watermark drops them.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace mailfleet::agent {

struct SourceCheckpoint {
  std::string source_id;
  std::string fingerprint_hash;  // FingerprintHash of the file's first line
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t offset = 0;  // acked: every line before it is stored
  int64_t mtime = 0;    // the file's mtime (seconds) when last read
  bool done = false;    // rotated away and acked to its end
  std::string path;     // where it was last read
};

struct Checkpoint {
  int64_t saved_at = 0;  // seconds since the epoch; 0 when there was no checkpoint
  std::map<std::string, SourceCheckpoint> sources;  // by source_id
};

// A missing file is an empty checkpoint; a damaged one is an error naming the line.
absl::StatusOr<Checkpoint> LoadCheckpoint(const std::string& path);
absl::Status SaveCheckpoint(const std::string& path, const Checkpoint& checkpoint);

}  // namespace mailfleet::agent
