#include "cli/parse_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>

#include "cli/format.h"
#include "common/parse/event_json.h"
#include "common/parse/line_splitter.h"
#include "common/parse/parser.h"
#include "fmt/format.h"

namespace mailfleet::cli {
namespace {

using parse::Kind;

struct Summary {
  uint64_t lines = 0;
  uint64_t mail_lines = 0;  // lines from Postfix or Dovecot
  uint64_t mail_other = 0;  // ... that the parser left kind "other"
  uint64_t truncated = 0;
  uint64_t invalid_utf8 = 0;
  uint64_t by_kind[static_cast<size_t>(Kind::kCount)] = {};
  std::map<std::string, uint64_t, std::less<>> by_service;
  // A log has a handful of services, interleaved: each one's counter is found through a
  // small table, before the map. A name of up to 16 bytes is compared as two words.
  struct Recent {
    size_t size = ~size_t{0};
    uint64_t head = 0, tail = 0;
    uint64_t* count = nullptr;
  };
  std::array<Recent, 32> recent;

  // name (inside line) as two words, the bytes before it zeroed; false when it is longer than
  // 16 bytes or ends fewer than 16 bytes into the line.
  static bool Words(std::string_view line, std::string_view name, uint64_t* head, uint64_t* tail) {
    const size_t n = name.size();
    const char* end = name.data() + n;
    if (std::endian::native != std::endian::little || n > 16 || end - line.data() < 16) {
      return false;
    }
    std::memcpy(head, end - 16, 8);
    std::memcpy(tail, end - 8, 8);
    // Little-endian: name is the top n bytes of the 16.
    if (n <= 8) {
      *head = 0;
      *tail = n == 0 ? 0 : *tail & (~uint64_t{0} << (8 * (8 - n)));
    } else if (n < 16) {
      *head &= ~uint64_t{0} << (8 * (16 - n));
    }
    return true;
  }

  uint64_t& Count(std::string_view service) {
    auto it = by_service.find(service);
    if (it == by_service.end()) it = by_service.emplace(std::string(service), 0).first;
    return it->second;
  }

  void Add(const parse::LogEvent& e) {
    ++lines;
    ++by_kind[static_cast<size_t>(e.kind)];
    auto service = e.Get(e.service);
    uint64_t head, tail;
    if (Words(e.raw, service, &head, &tail)) {
      Recent& r = recent[((tail ^ service.size()) * 0x9E3779B97F4A7C15ull) >> 59];  // 32 slots
      if (r.count == nullptr || r.size != service.size() || r.head != head || r.tail != tail) {
        r = {service.size(), head, tail, &Count(service)};
      }
      ++*r.count;
    } else {
      ++Count(service);
    }
    auto program = e.Get(e.program);
    bool mail = program.starts_with("postfix") || program == "dovecot" ||
                (e.host.empty() && !e.service.empty());
    // Branches, not additions of flags: added without one, neighbouring counters are
    // updated as one vector whose load then waits on the separate stores of the line before
    // (a store-forwarding stall that cost about 4% of the whole parse).
    if (mail) {
      ++mail_lines;
      if (e.kind == Kind::kOther) ++mail_other;
    }
    if (e.truncated) ++truncated;
    if (e.invalid_utf8) ++invalid_utf8;
  }

  void Print() const {
    std::cout << fmt::format("lines: {}\nmail lines (postfix, dovecot): {}\n", lines, mail_lines);
    std::cout << fmt::format("mail lines left 'other': {} ({:.3f}%)\n", mail_other,
                             mail_lines ? 100.0 * mail_other / mail_lines : 0.0);
    std::cout << fmt::format("truncated: {}\ninvalid utf-8: {}\n\n", truncated, invalid_utf8);
    std::vector<std::vector<std::string>> rows = {{"KIND", "LINES"}};
    for (size_t k = 0; k < std::size(by_kind); ++k) {
      if (by_kind[k]) rows.push_back({std::string(KindName(Kind(k))), std::to_string(by_kind[k])});
    }
    std::cout << FormatTable(rows) << "\n";
    std::vector<std::pair<std::string, uint64_t>> services(by_service.begin(), by_service.end());
    std::sort(services.begin(), services.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    rows = {{"SERVICE", "LINES"}};
    for (const auto& [name, n] : services)
      rows.push_back({name.empty() ? "-" : name, std::to_string(n)});
    std::cout << FormatTable(rows);
  }
};

// Reads `path` (gzip or plain; "-" is stdin) and calls fn for every event.
template <typename Fn>
bool ForEachEvent(const std::string& path, Fn&& fn) {
  bool stdin_input = path.empty() || path == "-";
  if (struct stat dir{}; !stdin_input && stat(path.c_str(), &dir) == 0 && S_ISDIR(dir.st_mode)) {
    std::cerr << fmt::format("mailfleet: {} is a folder; give the log files in it\n", path);
    return false;
  }
  gzFile in = stdin_input ? gzdopen(dup(STDIN_FILENO), "rb") : gzopen(path.c_str(), "rb");
  if (in == nullptr) {
    std::cerr << fmt::format("mailfleet: cannot read {}: {}\n", path, std::strerror(errno));
    return false;
  }
  gzbuffer(in, 1 << 18);
  // Plain files are read directly: zlib's pass-through copies every byte once more.
  // (Standard input cannot be read twice: zlib has read its first bytes already.)
  int plain_fd = -1;
  if (!stdin_input && gzdirect(in)) plain_fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  // Classic syslog lines carry no year: take it from the file's last change (its lines are
  // older than that), or from now for standard input.
  auto reference = std::chrono::system_clock::now();
  struct stat st {};
  if (!stdin_input && stat(path.c_str(), &st) == 0) {
    reference = std::chrono::system_clock::from_time_t(st.st_mtime);
  }
  parse::Parser parser(reference);
  parse::LineSplitter splitter(parse::Parser::kMaxLine);
  parse::LogEvent event;
  auto on_line = [&](std::string_view line, uint64_t, bool truncated) {
    parser.Parse(line, &event, splitter.plain());
    event.truncated = event.truncated || truncated;
    fn(event);
  };
  bool ok = true;
  std::string buffer(1 << 18, '\0');
  for (;;) {
    int n = plain_fd >= 0 ? static_cast<int>(read(plain_fd, buffer.data(), buffer.size()))
                          : gzread(in, buffer.data(), static_cast<unsigned>(buffer.size()));
    if (n < 0) {
      int err = 0;
      std::cerr << fmt::format("mailfleet: reading {}: {}\n", path,
                               plain_fd >= 0 ? std::strerror(errno) : gzerror(in, &err));
      ok = false;
      break;
    }
    if (n == 0) {
      // zlib reports a gzip stream cut short (no trailer) only here, at the end.
      int err = Z_OK;
      gzerror(in, &err);
      if (plain_fd < 0 && err == Z_BUF_ERROR) {
        std::cerr << fmt::format(
            "mailfleet: {}: the gzip data ends early (a truncated or still-growing file); "
            "the lines before that point were read\n",
            stdin_input ? "standard input" : path);
        ok = false;
      }
      break;
    }
    splitter.Feed(std::string_view(buffer.data(), static_cast<size_t>(n)), on_line);
  }
  // A last line without its newline still counts when the file is complete (not when the
  // gzip data ended early: that line was cut).
  if (ok)
    splitter.Feed("\n", [&](std::string_view line, uint64_t offset, bool truncated) {
      if (line.empty() && !truncated) return;
      on_line(line, offset, truncated);
    });
  gzclose(in);
  if (plain_fd >= 0) close(plain_fd);
  return ok;
}

}  // namespace

int RunParse(const ParseOptions& options) {
  std::vector<std::string> files = options.files;
  if (files.empty()) files.push_back("-");
  Summary summary;
  std::string out;
  bool ok = true;
  for (const auto& path : files) {
    ok &= ForEachEvent(path, [&](const parse::LogEvent& e) {
      if (options.summary) {
        summary.Add(e);
        return;
      }
      parse::AppendEventJson(e, &out);
      out.push_back('\n');
      if (out.size() > (1 << 16)) {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
      }
    });
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (options.summary) summary.Print();
  return ok ? 0 : 1;
}

}  // namespace mailfleet::cli
