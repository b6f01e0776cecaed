// Splitting the text that commands print (postconf -n, postqueue -j, /proc files) into lines
// and fields, and trimming: one way everywhere.
//   for (std::string_view line : SplitLines(run.out)) ...
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mailfleet {

// The lines of text without their '\n' (a '\r' before it is kept); no final empty line.
std::vector<std::string_view> SplitLines(std::string_view text);

// The non-empty pieces of text between any of the delimiter characters.
std::vector<std::string> SplitFields(std::string_view text, std::string_view delimiters);

// text without leading and trailing spaces, tabs, CR and LF.
std::string TrimSpace(std::string_view text);

}  // namespace mailfleet
