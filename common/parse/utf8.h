// Strict UTF-8 (no overlong forms, no surrogates, at most U+10FFFF), shared by the parser's
// invalid_utf8 flag, the JSON writer and the collector's COPY rows.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mailfleet::parse {

// Length (1-4) of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one.
// NUL counts as invalid: no text column or JSON string we write can hold it raw.
size_t Utf8SequenceLength(std::string_view s, size_t i);

// True iff every byte of s belongs to a valid sequence (NUL included as invalid).
bool ValidUtf8(std::string_view s);

}  // namespace mailfleet::parse

namespace mailfleet::parse {

// s with every byte that is not part of a valid sequence (NUL included) replaced by U+FFFD,
// so it fits a protobuf string, a JSON string and a text column.
std::string ToValidUtf8(std::string_view s);

}  // namespace mailfleet::parse
