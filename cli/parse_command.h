// `mailfleet parse [FILE ...]`: parses mail logs offline (plain or gzip, or stdin) and prints
// one JSON event per line, or with --summary the counts by kind and service.
#pragma once

#include <string>
#include <vector>

namespace mailfleet::cli {

struct ParseOptions {
  std::vector<std::string> files;  // empty or "-": standard input
  bool summary = false;
};

// Returns the process exit code: 0, or 1 when a file could not be read.
int RunParse(const ParseOptions& options);

}  // namespace mailfleet::cli
