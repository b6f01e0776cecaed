// PostgreSQL COPY text format for event rows: escaping, NULLs, and turning bytes that a text
// column cannot hold (invalid UTF-8, NUL) into U+FFFD while the exact bytes go to bytea.
#pragma once

#include <string>
#include <string_view>

namespace mailfleet::collector {

// Appends `value` as one COPY text field: invalid UTF-8 and NUL become U+FFFD; backslash,
// tab, newline and carriage return are escaped.
void AppendCopyText(std::string_view value, std::string* out);
// The COPY NULL marker.
inline void AppendCopyNull(std::string* out) { out->append("\\N"); }
// bytea in COPY text format (hex, with the backslash escaped).
void AppendCopyBytea(std::string_view bytes, std::string* out);
// True iff a text column can hold `value` as it is (valid UTF-8, no NUL).
bool FitsTextColumn(std::string_view value);

}  // namespace mailfleet::collector
