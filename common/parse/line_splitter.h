// Cuts a byte stream into lines. Bytes arrive in chunks of any size; a line is delivered
// once its '\n' has arrived, so a partial last line waits. Lines longer than max_line are
// delivered cut at max_line with truncated = true, and the rest of them is skipped without
// being buffered (memory stays bounded whatever the input).
//   LineSplitter splitter(1 << 20);
//   splitter.Feed(chunk, [&](std::string_view line, uint64_t end_offset, bool truncated) {...});
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/parse/find.h"

namespace mailfleet::parse {

class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line) : max_line_(max_line) {}

  // fn(std::string_view line, uint64_t next_offset, bool truncated) for every complete line;
  // `line` has no '\n' and is valid only during the call; next_offset is the stream offset just
  // past the line's '\n' (where reading would resume after it).
  template <typename Fn>
  void Feed(std::string_view chunk, Fn&& fn) {
    while (!chunk.empty()) {
      size_t nl = Find(chunk, '\n');
      if (nl == std::string_view::npos) {
        Keep(chunk);
        offset_ += chunk.size();
        return;
      }
      std::string_view piece = chunk.substr(0, nl);
      offset_ += nl + 1;
      chunk.remove_prefix(nl + 1);
      if (partial_.empty() && !skipping_) {
        if (piece.size() > max_line_) {
          fn(piece.substr(0, max_line_), offset_, true);
        } else {
          fn(piece, offset_, false);
        }
      } else {
        Keep(piece);
        fn(std::string_view(partial_), offset_, skipping_);
        partial_.clear();
        skipping_ = false;
        pending_ = 0;
      }
    }
  }

  // Delivers a held-back unfinished line as it is (for a file that will never grow again);
  // its next_offset is the end of the stream.
  template <typename Fn>
  void Flush(Fn&& fn) {
    if (pending_ == 0) return;
    fn(std::string_view(partial_), offset_, skipping_);
    partial_.clear();
    skipping_ = false;
    pending_ = 0;
  }

  // Bytes of an unfinished last line held back (they will be read again after a restart).
  size_t pending() const { return pending_; }
  // The offset just past the last complete line delivered.
  uint64_t committed_offset() const { return offset_ - pending_; }
  void Reset(uint64_t offset) {
    partial_.clear();
    skipping_ = false;
    pending_ = 0;
    offset_ = offset;
  }

 private:
  void Keep(std::string_view bytes) {
    pending_ += bytes.size();
    size_t room = max_line_ > partial_.size() ? max_line_ - partial_.size() : 0;
    if (bytes.size() > room) skipping_ = true;
    partial_.append(bytes.substr(0, room));
  }

  const size_t max_line_;
  std::string partial_;
  bool skipping_ = false;  // the current line passed max_line_
  size_t pending_ = 0;
  uint64_t offset_ = 0;  // stream offset of the next byte to arrive
};

}  // namespace mailfleet::parse
