#include "collector/store/copy_format.h"

#include "common/parse/utf8.h"

namespace mailfleet::collector {

bool FitsTextColumn(std::string_view value) { return parse::ValidUtf8(value); }

void AppendCopyText(std::string_view value, std::string* out) {
  for (size_t i = 0; i < value.size();) {
    char c = value[i];
    switch (c) {
      case '\\':
        out->append("\\\\");
        ++i;
        continue;
      case '\t':
        out->append("\\t");
        ++i;
        continue;
      case '\n':
        out->append("\\n");
        ++i;
        continue;
      case '\r':
        out->append("\\r");
        ++i;
        continue;
      default:
        break;
    }
    size_t len = parse::Utf8SequenceLength(value, i);
    if (len == 0) {
      out->append("\xEF\xBF\xBD");
      ++i;
    } else {
      out->append(value.substr(i, len));
      i += len;
    }
  }
}

void AppendCopyBytea(std::string_view bytes, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->append("\\\\x");
  for (unsigned char c : bytes) {
    out->push_back(kHex[c >> 4]);
    out->push_back(kHex[c & 15]);
  }
}

}  // namespace mailfleet::collector
