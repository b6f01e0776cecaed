// Benchmark helper: appends Postfix-style lines to a file at a steady rate, each stamped with
// the microsecond it was written (RFC 3339), so the collector's rows tell line-to-row latency.
//   log_writer FILE LINES_PER_SECOND SECONDS
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>

#include "fmt/format.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: log_writer FILE LINES_PER_SECOND SECONDS\n");
    return 2;
  }
  int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(argv[1]);
    return 1;
  }
  const long rate = std::atol(argv[2]);
  const long seconds = std::atol(argv[3]);
  using clock = std::chrono::system_clock;
  auto start = std::chrono::steady_clock::now();
  long written = 0;
  std::string buffer;
  for (long tick = 0; tick < seconds * 100; ++tick) {  // 10 ms ticks
    long due = rate * (tick + 1) / 100;
    buffer.clear();
    for (; written < due; ++written) {
      auto now = clock::now();
      auto us =
          std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
      std::time_t secs = static_cast<std::time_t>(us / 1000000);
      std::tm tm{};
      gmtime_r(&secs, &tm);
      fmt::format_to(std::back_inserter(buffer),
                     "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00 bench postfix/qmgr[4242]: "
                     "{:010X}: from=<sender{}@example.org>, size={}, nrcpt=1 (queue active)\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     us % 1000000, written, written % 97, 1000 + written % 5000);
    }
    if (!buffer.empty() && write(fd, buffer.data(), buffer.size()) < 0) {
      std::perror("write");
      return 1;
    }
    std::this_thread::sleep_until(start + std::chrono::milliseconds(10 * (tick + 1)));
  }
  close(fd);
  std::printf("%ld\n", written);
  return 0;
}
