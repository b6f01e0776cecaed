// Small file helpers: whole-file reads with a cap, and atomic replacement (temp file, fsync,
// rename, fsync of the folder), so after a crash a file holds its old or its new text.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"

namespace mailfleet {

// NotFound when the file does not exist; other errors name the path and the reason.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t cap = 16 << 20);

absl::Status WriteFileAtomically(const std::string& path, const std::string& text,
                                 mode_t mode = 0600);

}  // namespace mailfleet
