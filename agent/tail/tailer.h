// The tailer: follows mail log files through rotation and turns their lines into log batches.
// Nothing is lost and the source file is the only buffer:
// - rename rotation: the renamed file is read to its end (by its open descriptor), then the
//   new file from its start;
// - copytruncate: the copy is found by the fingerprint of its first line and read on from
//   where the truncated file was left; the truncated file starts again at 0;
// - `postfix logrotate` and logrotate's compress: after downtime the agent resumes inside the
//   compressed generation, matched by fingerprint, and reads the generations rotated while it
//   was down, oldest first;
// - a partial last line waits for its newline.
// Offsets only become durable through Acked() and the checkpoint.
//   Tailer tailer({.paths = {"/var/log/mail.log"}}, checkpoint, clock);
//   tailer.Scan();
//   while (tailer.NextBatch(&batch)) send(batch);   // later: tailer.Acked(id, end)
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/tail/checkpoint.h"
#include "agent/tail/source_file.h"
#include "agent/tail/wire_batch.h"
#include "common/clock.h"
#include "common/parse/line_splitter.h"
#include "common/parse/parser.h"
#include "mailfleet/v1/agent.pb.h"

namespace mailfleet::agent {

struct TailerOptions {
  std::vector<std::string> paths;  // live log files; glob patterns allowed
  size_t max_batch_events = 2000;
  size_t max_batch_bytes = 512 * 1024;
  // On the very first start (no checkpoint), skip what the files hold already.
  bool start_at_end = false;
};

// What the tailer knows about one source, for `mailfleet hosts` pipeline health.
struct SourceStatus {
  std::string source_id;
  std::string path;
  uint64_t read_offset = 0;  // end of the last line put in a batch
  uint64_t acked_offset = 0;
  uint64_t size = 0;  // bytes on disk (compressed size for gzip)
  uint64_t lines_read = 0;
  bool live = false;
};

class Tailer {
 public:
  // clock must outlive the tailer. `checkpoint` is the last one saved (may be empty).
  Tailer(TailerOptions options, Checkpoint checkpoint, const Clock& clock);
  ~Tailer();

  // Finds new, renamed, truncated and compressed files. Cheap (a few stat calls) unless
  // something changed; call it before NextBatch, e.g. on every wake-up.
  void Scan();

  // Fills *batch with the next run of complete lines of one source, oldest source first.
  // False when no source has a new complete line.
  bool NextBatch(WireBatch* batch);

  // Every line of source_id that ends at or before end_offset is stored by the collector.
  void Acked(const std::string& source_id, uint64_t end_offset);

  // A new stream: everything read but not acked is read again.
  void Rewind();

  // The acked state, for SaveCheckpoint.
  Checkpoint Snapshot() const;

  // Folders holding the live files (for inotify).
  std::vector<std::string> WatchDirs() const;
  std::vector<SourceStatus> Status() const;

 private:
  struct Source;
  void Resume(const Checkpoint& checkpoint);
  void OpenLive(const std::string& path, dev_t dev, ino_t ino, int64_t mtime, uint64_t size);
  void HandleTruncated(Source& source, const std::string& live_path);
  // Whether the file under `source` now starts with another first line (a truncation).
  bool FirstLineChanged(Source& source);
  void OpenMissedGenerations(const std::string& live_path, int64_t previous_mtime);
  Source* Find(dev_t dev, ino_t ino);
  Source* FindById(const std::string& id);
  // Moves sources that are read and acked to their end into done_.
  void PruneFinished();
  std::vector<std::string> LivePaths() const;
  std::vector<std::string> RotatedCandidates(const std::string& live_path) const;
  void AddSource(std::unique_ptr<Source> source, bool front);

  const TailerOptions options_;
  const Clock& clock_;
  parse::Parser parser_;
  std::vector<std::unique_ptr<Source>> sources_;  // rotated ones first, then live, oldest first
  std::map<std::string, SourceCheckpoint> done_;  // finished sources kept in the checkpoint
  parse::LogEvent event_;                         // reused for every line
  std::string chunk_;
  bool fresh_start_ = false;  // no checkpoint existed
};

}  // namespace mailfleet::agent
