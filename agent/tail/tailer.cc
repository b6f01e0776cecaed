#include "agent/tail/tailer.h"

#include <dirent.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/absl_fmt.h"
#include "spdlog/spdlog.h"

namespace mailfleet::agent {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr int64_t kDoneRetentionSeconds = 7 * 86400;
// A renamed file is read to its end, then kept open this long for late writers.
constexpr std::chrono::seconds kRotatedGrace(2);

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

struct Tailer::Source {
  std::string id;
  std::string fingerprint_hash;
  std::string path;
  std::string live_path;  // empty once rotated away
  dev_t dev = 0;
  ino_t ino = 0;
  std::unique_ptr<SourceFile> file;
  parse::LineSplitter splitter{parse::Parser::kMaxLine};
  uint64_t acked = 0;
  uint64_t read = 0;  // end of the last line put in a batch
  uint64_t last_size = 0;
  int64_t mtime = 0;
  uint64_t lines = 0;
  bool finished = false;  // rotated and read to its very end
  std::chrono::steady_clock::time_point rotated_at;

  bool live() const { return !live_path.empty(); }
};

Tailer::Tailer(TailerOptions options, Checkpoint checkpoint, const Clock& clock)
    : options_(std::move(options)), clock_(clock), parser_(clock.Now()) {
  fresh_start_ = checkpoint.saved_at == 0 && checkpoint.sources.empty();
  Resume(checkpoint);
}

Tailer::~Tailer() = default;

std::vector<std::string> Tailer::LivePaths() const {
  std::vector<std::string> paths;
  for (const auto& pattern : options_.paths) {
    if (pattern.find_first_of("*?[") == std::string::npos) {
      paths.push_back(pattern);
      continue;
    }
    glob_t g{};
    if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) paths.emplace_back(g.gl_pathv[i]);
    }
    globfree(&g);
  }
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

std::vector<std::string> Tailer::RotatedCandidates(const std::string& live_path) const {
  std::vector<std::string> out;
  std::string dir = DirName(live_path);
  std::string base = BaseName(live_path);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* entry = readdir(d)) {
    std::string name = entry->d_name;
    if (name.size() <= base.size() + 1 || name.compare(0, base.size(), base) != 0) continue;
    char sep = name[base.size()];
    if (sep != '.' && sep != '-') continue;
    if (name.ends_with(".tmp") || name.ends_with(".lock")) continue;
    out.push_back(dir == "/" ? "/" + name : dir + "/" + name);
  }
  closedir(d);
  // Plain files before their compressed twins (a .gz may still be being written).
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    bool agz = a.ends_with(".gz"), bgz = b.ends_with(".gz");
    return agz != bgz ? !agz : a < b;
  });
  return out;
}

Tailer::Source* Tailer::Find(dev_t dev, ino_t ino) {
  for (auto& s : sources_) {
    if (s->dev == dev && s->ino == ino && !s->finished) return s.get();
  }
  return nullptr;
}

Tailer::Source* Tailer::FindById(const std::string& id) {
  for (auto& s : sources_) {
    if (s->id == id) return s.get();
  }
  return nullptr;
}

void Tailer::AddSource(std::unique_ptr<Source> source, bool front) {
  if (front) {
    // After the other rotated sources, before the live ones.
    auto it =
        std::find_if(sources_.begin(), sources_.end(), [](const auto& s) { return s->live(); });
    sources_.insert(it, std::move(source));
  } else {
    sources_.push_back(std::move(source));
  }
}

void Tailer::Resume(const Checkpoint& checkpoint) {
  int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  for (const auto& [id, s] : checkpoint.sources) {
    if (s.done && now_s - s.mtime < kDoneRetentionSeconds) done_[id] = s;
  }

  struct Candidate {
    std::string path;
    std::string live_path;
    struct stat st;
    std::string fingerprint_hash;
    std::string id;
    bool used = false;
  };
  std::vector<Candidate> candidates;
  for (const auto& live : LivePaths()) {
    std::vector<std::pair<std::string, std::string>> files = {{live, live}};
    for (auto& r : RotatedCandidates(live)) files.emplace_back(r, "");
    for (auto& [path, live_path] : files) {
      Candidate c{path, live_path, {}, "", "", false};
      if (stat(path.c_str(), &c.st) != 0 || !S_ISREG(c.st.st_mode)) continue;
      auto fp = ReadFingerprint(path);
      if (!fp.ok() || fp->empty()) continue;
      c.fingerprint_hash = FingerprintHash(*fp);
      c.id = SourceId(c.st.st_dev, c.st.st_ino, *fp);
      candidates.push_back(std::move(c));
    }
  }

  auto open_source = [&](Candidate& c, const std::string& id, uint64_t offset) -> bool {
    auto file = SourceFile::Open(c.path, offset);
    if (!file.ok()) {
      spdlog::warn("log source {}: cannot resume at offset {}: {}", c.path, offset,
                   file.status().message());
      return false;
    }
    auto src = std::make_unique<Source>();
    src->id = id;
    src->fingerprint_hash = c.fingerprint_hash;
    src->path = c.path;
    src->live_path = c.live_path;
    src->dev = c.st.st_dev;
    src->ino = c.st.st_ino;
    src->file = *std::move(file);
    src->acked = src->read = offset;
    src->splitter.Reset(offset);
    src->last_size = static_cast<uint64_t>(c.st.st_size);
    src->mtime = c.st.st_mtime;
    src->rotated_at = clock_.SteadyNow();
    c.used = true;
    // Every candidate with the same first line is the same content (a copy, or a compressed
    // twin): reading one of them is enough.
    for (auto& other : candidates) {
      if (other.fingerprint_hash == c.fingerprint_hash && other.live_path.empty())
        other.used = true;
    }
    sources_.push_back(std::move(src));
    return true;
  };

  // Sources that were being read: by identity first, then by first line (renamed, copied
  // by copytruncate, compressed).
  std::vector<const SourceCheckpoint*> pending;
  for (const auto& [id, s] : checkpoint.sources) {
    if (!s.done) pending.push_back(&s);
  }
  std::sort(pending.begin(), pending.end(), [](auto* a, auto* b) { return a->mtime < b->mtime; });
  for (const SourceCheckpoint* s : pending) {
    Candidate* match = nullptr;
    for (auto& c : candidates) {
      if (!c.used && c.id == s->source_id) match = &c;
    }
    if (match == nullptr) {
      // Moved to another inode with its content: a copytruncate copy or a compressed twin.
      for (auto& c : candidates) {
        if (!c.used && c.live_path.empty() && c.fingerprint_hash == s->fingerprint_hash) {
          match = &c;
          break;
        }
      }
    }
    if (match == nullptr) {
      spdlog::warn("log source {} ({}): the file is gone; lines after offset {} were not shipped",
                   s->path, s->source_id, s->offset);
      continue;
    }
    open_source(*match, s->source_id, s->offset);
  }

  // Generations rotated while the agent was down: read them whole, oldest first.
  if (checkpoint.saved_at > 0) {
    std::vector<Candidate*> missed;
    for (auto& c : candidates) {
      if (c.used || !c.live_path.empty() || done_.contains(c.id)) continue;
      if (c.st.st_mtime + 2 < checkpoint.saved_at) continue;
      bool known = false;
      for (const auto& [id, d] : done_) known = known || d.fingerprint_hash == c.fingerprint_hash;
      if (!known) missed.push_back(&c);
    }
    std::sort(missed.begin(), missed.end(),
              [](auto* a, auto* b) { return a->st.st_mtime < b->st.st_mtime; });
    for (Candidate* c : missed) {
      if (!c->used) open_source(*c, c->id, 0);
    }
  }
  std::stable_sort(sources_.begin(), sources_.end(), [](const auto& a, const auto& b) {
    if (a->live() != b->live()) return !a->live();
    return a->mtime < b->mtime;
  });
}

void Tailer::OpenLive(const std::string& path, dev_t dev, ino_t ino, int64_t mtime, uint64_t size) {
  auto fp = ReadFingerprint(path);
  if (!fp.ok() || fp->empty()) return;  // first line not complete yet
  std::string id = SourceId(dev, ino, *fp);
  if (Source* existing = FindById(id)) {
    existing->live_path = path;
    return;
  }
  if (done_.contains(id)) return;
  uint64_t offset = 0;
  if (fresh_start_ && options_.start_at_end) {
    // Start after the last complete line.
    auto file = SourceFile::Open(path, size > kReadChunk ? size - kReadChunk : 0);
    std::string tail;
    if (file.ok() && (*file)->Read(kReadChunk, &tail).ok()) {
      size_t nl = tail.rfind('\n');
      uint64_t start = size > kReadChunk ? size - kReadChunk : 0;
      offset = nl == std::string::npos ? start : start + nl + 1;
    }
  }
  auto file = SourceFile::Open(path, offset);
  if (!file.ok()) {
    spdlog::warn("log source {}: {}", path, file.status().message());
    return;
  }
  auto src = std::make_unique<Source>();
  src->id = id;
  src->fingerprint_hash = FingerprintHash(*fp);
  src->path = src->live_path = path;
  src->dev = dev;
  src->ino = ino;
  src->file = *std::move(file);
  src->acked = src->read = offset;
  src->splitter.Reset(offset);
  src->last_size = size;
  src->mtime = mtime;
  spdlog::info("log source {} ({}) from offset {}", path, id, offset);
  AddSource(std::move(src), false);
}

void Tailer::HandleTruncated(Source& source, const std::string& live_path) {
  // copytruncate: the old content lives on in a copy with the same first line.
  for (const auto& candidate : RotatedCandidates(live_path)) {
    struct stat st {};
    if (stat(candidate.c_str(), &st) != 0 || st.st_ino == source.ino) continue;
    auto fp = ReadFingerprint(candidate);
    if (!fp.ok() || fp->empty() || FingerprintHash(*fp) != source.fingerprint_hash) continue;
    auto file = SourceFile::Open(candidate, source.file->position());
    if (!file.ok()) continue;
    spdlog::info("log source {} was truncated; reading on in its copy {}", live_path, candidate);
    source.file = *std::move(file);
    source.path = candidate;
    source.dev = st.st_dev;
    source.ino = st.st_ino;
    source.live_path.clear();
    source.rotated_at = clock_.SteadyNow();
    return;
  }
  uint64_t unread =
      source.last_size > source.file->position() ? source.last_size - source.file->position() : 0;
  if (unread > 0) {
    spdlog::warn("log source {} was truncated with {} bytes not read, and no copy of it was found",
                 live_path, unread);
  }
  source.live_path.clear();
  source.finished = true;
  source.splitter.Reset(source.read);
  source.acked = std::max(source.acked, source.read);
}

bool Tailer::FirstLineChanged(Source& s) {
  std::string head;
  if (!s.file->ReadHead(kFingerprintBytes, &head).ok()) return false;
  size_t nl = head.find('\n');
  if (nl != std::string::npos) {
    head.resize(nl + 1);
  } else if (head.size() < kFingerprintBytes) {
    return false;  // not even a first line: nothing to compare yet
  }
  return FingerprintHash(head) != s.fingerprint_hash;
}

void Tailer::Scan() {
  PruneFinished();
  for (const auto& path : LivePaths()) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    uint64_t size = static_cast<uint64_t>(st.st_size);
    Source* s = Find(st.st_dev, st.st_ino);
    if (s != nullptr && s->live_path == path) {
      bool truncated = size < s->file->position();
      // Truncated and written again past our offset between two scans? Then its first line
      // changed: a pread of at most 256 bytes through the open descriptor tells.
      if (!truncated && size != s->last_size && !s->file->compressed()) {
        truncated = FirstLineChanged(*s);
      }
      if (truncated) {
        HandleTruncated(*s, path);
        OpenLive(path, st.st_dev, st.st_ino, st.st_mtime, size);
        continue;
      }
      s->last_size = size;
      s->mtime = st.st_mtime;
      continue;
    }
    if (s != nullptr) continue;  // that file is followed under another name
    // A new file at the live path: the one we followed there (if any) was rotated away.
    std::optional<int64_t> rotated_mtime;
    for (auto& other : sources_) {
      if (other->live_path == path) {
        other->live_path.clear();
        other->rotated_at = clock_.SteadyNow();
        rotated_mtime = other->mtime;
      }
    }
    if (rotated_mtime) OpenMissedGenerations(path, *rotated_mtime);
    OpenLive(path, st.st_dev, st.st_ino, st.st_mtime, size);
  }
}

void Tailer::OpenMissedGenerations(const std::string& live_path, int64_t previous_mtime) {
  // Files that were created, written and rotated away between two scans (the agent was busy,
  // or away from the collector): never seen live, they are read whole. They were written
  // after the previous live file's last change, as far as file times tell (2 s of slack).
  int64_t since = previous_mtime - 2;
  std::vector<std::pair<int64_t, std::string>> missed;
  for (const auto& candidate : RotatedCandidates(live_path)) {
    struct stat st {};
    if (stat(candidate.c_str(), &st) != 0 || st.st_mtime < since) continue;
    if (Find(st.st_dev, st.st_ino) != nullptr) continue;
    auto fp = ReadFingerprint(candidate);
    if (!fp.ok() || fp->empty()) continue;
    std::string hash = FingerprintHash(*fp);
    bool known = false;
    for (const auto& src : sources_) known = known || src->fingerprint_hash == hash;
    for (const auto& [id, d] : done_) known = known || d.fingerprint_hash == hash;
    if (!known) missed.emplace_back(st.st_mtime, candidate);
  }
  std::sort(missed.begin(), missed.end());
  for (const auto& [mtime, path] : missed) {
    struct stat st {};
    auto fp = ReadFingerprint(path);
    auto file = SourceFile::Open(path, 0);
    if (!fp.ok() || !file.ok() || stat(path.c_str(), &st) != 0) continue;
    auto src = std::make_unique<Source>();
    src->id = SourceId(st.st_dev, st.st_ino, *fp);
    src->fingerprint_hash = FingerprintHash(*fp);
    src->path = path;
    src->dev = st.st_dev;
    src->ino = st.st_ino;
    src->file = *std::move(file);
    src->mtime = mtime;
    src->rotated_at = clock_.SteadyNow();
    spdlog::info("log source {} ({}) was rotated before it was seen; reading it whole", path,
                 src->id);
    AddSource(std::move(src), true);
  }
}

void Tailer::PruneFinished() {
  for (auto it = sources_.begin(); it != sources_.end();) {
    Source& s = **it;
    if (s.finished && s.acked >= s.read) {
      done_[s.id] = SourceCheckpoint{s.id,
                                     s.fingerprint_hash,
                                     static_cast<uint64_t>(s.dev),
                                     static_cast<uint64_t>(s.ino),
                                     s.acked,
                                     s.mtime,
                                     true,
                                     s.path};
      it = sources_.erase(it);
    } else {
      ++it;
    }
  }
}

bool Tailer::NextBatch(WireBatch* batch) {
  batch->Clear();
  PruneFinished();
  for (auto& sp : sources_) {
    Source& s = *sp;
    if (s.finished || s.file == nullptr) continue;
    uint64_t first_offset = s.read;
    size_t bytes = 0;
    auto on_line = [&](std::string_view line, uint64_t end, bool truncated) {
      parser_.Parse(line, &event_, s.splitter.plain());
      event_.truncated = event_.truncated || truncated;
      batch->Add(event_, end);
      bytes += line.size();
      s.read = end;
      ++s.lines;
    };
    for (;;) {
      auto status = s.file->Read(kReadChunk, &chunk_);
      if (!status.ok()) {
        spdlog::warn("log source {}: {}", s.path, status.message());
        break;
      }
      if (chunk_.empty()) {
        // At the end. A rotated file is done once its writers have moved on.
        if (!s.live() && clock_.SteadyNow() - s.rotated_at > kRotatedGrace) {
          s.splitter.Flush(on_line);
          s.finished = true;
        }
        break;
      }
      s.splitter.Feed(chunk_, on_line);
      if (static_cast<size_t>(batch->events()) >= options_.max_batch_events ||
          bytes >= options_.max_batch_bytes) {
        break;
      }
    }
    if (batch->events() > 0) {
      batch->source_id = s.id;
      batch->path = s.path;
      batch->first_offset = first_offset;
      return true;
    }
  }
  return false;
}

void Tailer::Acked(const std::string& source_id, uint64_t end_offset) {
  if (Source* s = FindById(source_id)) s->acked = std::max(s->acked, end_offset);
}

void Tailer::Rewind() {
  for (auto& s : sources_) {
    if (s->read == s->acked && !s->finished) continue;
    s->read = s->acked;
    s->splitter.Reset(s->acked);
    s->finished = false;
    if (auto st = s->file->Seek(s->acked); !st.ok()) {
      spdlog::warn("log source {}: {}", s->path, st.message());
    }
  }
}

Checkpoint Tailer::Snapshot() const {
  Checkpoint cp;
  cp.saved_at =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  cp.sources = done_;
  for (const auto& s : sources_) {
    cp.sources[s->id] = SourceCheckpoint{s->id,
                                         s->fingerprint_hash,
                                         static_cast<uint64_t>(s->dev),
                                         static_cast<uint64_t>(s->ino),
                                         s->acked,
                                         s->mtime,
                                         false,
                                         s->path};
  }
  return cp;
}

std::vector<std::string> Tailer::WatchDirs() const {
  std::vector<std::string> dirs;
  for (const auto& pattern : options_.paths) dirs.push_back(DirName(pattern));
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  return dirs;
}

std::vector<SourceStatus> Tailer::Status() const {
  std::vector<SourceStatus> out;
  for (const auto& s : sources_) {
    SourceStatus st;
    st.source_id = s->id;
    st.path = s->path;
    st.read_offset = s->read;
    st.acked_offset = s->acked;
    auto size = s->file->DiskSize();
    st.size = size.ok() ? *size : 0;
    st.lines_read = s->lines;
    st.live = s->live();
    out.push_back(st);
  }
  return out;
}

}  // namespace mailfleet::agent
