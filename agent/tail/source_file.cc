#include "agent/tail/source_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/sha256.h"
#include "fmt/format.h"

namespace mailfleet::agent {
namespace {

absl::Status Errno(const char* what, const std::string& path) {
  int e = errno;
  std::string msg = fmt::format("{} {}: {}", what, path, std::strerror(e));
  if (e == ENOENT) return absl::NotFoundError(msg);
  if (e == EACCES || e == EPERM) return absl::PermissionDeniedError(msg);
  return absl::UnavailableError(msg);
}

}  // namespace

bool IsGzipFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  unsigned char magic[2] = {0, 0};
  bool gz = pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  close(fd);
  return gz;
}

absl::StatusOr<std::string> ReadFingerprint(const std::string& path) {
  auto file = SourceFile::Open(path, 0);
  if (!file.ok()) return file.status();
  std::string head;
  std::string chunk;
  while (head.size() < kFingerprintBytes) {
    if (auto s = (*file)->Read(kFingerprintBytes - head.size(), &chunk); !s.ok()) return s;
    if (chunk.empty()) break;
    head += chunk;
    if (head.find('\n') != std::string::npos) break;
  }
  size_t nl = head.find('\n');
  if (nl != std::string::npos) return head.substr(0, nl + 1);
  if (head.size() >= kFingerprintBytes) return head.substr(0, kFingerprintBytes);
  return std::string();  // first line still incomplete
}

std::string FingerprintHash(const std::string& fingerprint) {
  return Sha256Hex(fingerprint).substr(0, 32);
}

std::string SourceId(dev_t dev, ino_t ino, const std::string& fingerprint) {
  return Sha256Hex(fmt::format("{}:{}:{}", static_cast<uint64_t>(dev), static_cast<uint64_t>(ino),
                               fingerprint))
      .substr(0, 24);
}

absl::StatusOr<std::unique_ptr<SourceFile>> SourceFile::Open(const std::string& path,
                                                             uint64_t offset) {
  auto file = std::unique_ptr<SourceFile>(new SourceFile());
  file->path_ = path;
  file->fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file->fd_ < 0) return Errno("cannot open", path);
  struct stat st {};
  if (fstat(file->fd_, &st) != 0) return Errno("cannot stat", path);
  file->dev_ = st.st_dev;
  file->ino_ = st.st_ino;
  unsigned char magic[2] = {0, 0};
  if (pread(file->fd_, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    int dupfd = dup(file->fd_);
    file->gz_ = gzdopen(dupfd, "rb");
    if (file->gz_ == nullptr) {
      close(dupfd);
      return absl::InternalError(fmt::format("cannot read gzip file {}", path));
    }
    gzbuffer(file->gz_, 1 << 16);
  }
  if (auto s = file->Seek(offset); !s.ok()) return s;
  return file;
}

SourceFile::~SourceFile() {
  if (gz_ != nullptr) gzclose(gz_);
  if (fd_ >= 0) close(fd_);
}

absl::Status SourceFile::Seek(uint64_t offset) {
  if (gz_ != nullptr) {
    if (offset < position_) {
      gzrewind(gz_);
      position_ = 0;
    }
    std::string skip;
    while (position_ < offset) {
      if (auto s = Read(std::min<uint64_t>(offset - position_, 1 << 16), &skip); !s.ok()) return s;
      if (skip.empty()) {
        return absl::OutOfRangeError(
            fmt::format("{} has only {} bytes uncompressed, less than the offset {}", path_,
                        position_, offset));
      }
    }
    return absl::OkStatus();
  }
  position_ = offset;
  return absl::OkStatus();
}

absl::Status SourceFile::Read(size_t max, std::string* out) {
  out->resize(max);
  if (gz_ != nullptr) {
    int n = gzread(gz_, out->data(), static_cast<unsigned>(max));
    if (n < 0) {
      int err = 0;
      out->clear();
      return absl::DataLossError(fmt::format("{}: {}", path_, gzerror(gz_, &err)));
    }
    // A gzip file still being written ends early; that is just "no more data yet".
    if (n == 0) gzclearerr(gz_);
    out->resize(static_cast<size_t>(n));
    position_ += static_cast<uint64_t>(n);
    return absl::OkStatus();
  }
  ssize_t n;
  do {
    n = pread(fd_, out->data(), max, static_cast<off_t>(position_));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    out->clear();
    return Errno("cannot read", path_);
  }
  out->resize(static_cast<size_t>(n));
  position_ += static_cast<uint64_t>(n);
  return absl::OkStatus();
}

absl::Status SourceFile::ReadHead(size_t n, std::string* out) {
  out->resize(n);
  ssize_t got;
  do {
    got = pread(fd_, out->data(), n, 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    out->clear();
    return Errno("cannot read", path_);
  }
  out->resize(static_cast<size_t>(got));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> SourceFile::DiskSize() const {
  struct stat st {};
  if (fstat(fd_, &st) != 0) return Errno("cannot stat", path_);
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace mailfleet::agent
