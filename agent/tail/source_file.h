// One log file opened for reading, plain or gzip-compressed, positioned by offsets in its
// uncompressed byte stream; and the identity of a log file: (device, inode) plus a
// fingerprint of its first line (at most kFingerprintBytes), which never changes once
// written, so a file keeps its identity through renames and compression and inode reuse is
// caught.
#pragma once

#include <sys/types.h>
#include <zlib.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace mailfleet::agent {

inline constexpr size_t kFingerprintBytes = 256;

// True iff `path` starts with the gzip magic bytes.
bool IsGzipFile(const std::string& path);

// The first line of the file (with its '\n'), or its first kFingerprintBytes bytes when the
// line is longer. Empty when the first line is not complete yet (the identity is not known
// until it is). Works on gzip files too.
absl::StatusOr<std::string> ReadFingerprint(const std::string& path);

// A short stable hex id from the device, inode and fingerprint.
std::string SourceId(dev_t dev, ino_t ino, const std::string& fingerprint);
// The same fingerprint's hash alone (what matches a file across inodes: renames, copies).
std::string FingerprintHash(const std::string& fingerprint);

class SourceFile {
 public:
  // Opens `path` and positions it at `offset` (uncompressed). For gzip files this
  // decompresses up to the offset.
  static absl::StatusOr<std::unique_ptr<SourceFile>> Open(const std::string& path, uint64_t offset);
  ~SourceFile();

  // Reads up to `max` bytes into *out (replaced); 0 bytes at the current end of the file.
  absl::Status Read(size_t max, std::string* out);
  // The first `n` bytes of a plain file, read through the open descriptor (no path lookup):
  // after a truncation they show the new content.
  absl::Status ReadHead(size_t n, std::string* out);
  // Moves to `offset` (uncompressed).
  absl::Status Seek(uint64_t offset);

  uint64_t position() const { return position_; }
  bool compressed() const { return gz_ != nullptr; }
  dev_t dev() const { return dev_; }
  ino_t ino() const { return ino_; }
  // Size of the file on disk now (compressed size for gzip), via fstat of the open fd.
  absl::StatusOr<uint64_t> DiskSize() const;

 private:
  SourceFile() = default;
  int fd_ = -1;
  gzFile gz_ = nullptr;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  uint64_t position_ = 0;
  std::string path_;
};

}  // namespace mailfleet::agent
