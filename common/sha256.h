// SHA-256 as lowercase hex (OpenSSL's libcrypto).
#pragma once

#include <string>
#include <string_view>

namespace mailfleet {

std::string Sha256Hex(std::string_view data);

}  // namespace mailfleet
