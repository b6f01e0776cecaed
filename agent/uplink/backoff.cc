#include "agent/uplink/backoff.h"

#include <algorithm>

namespace mailfleet::agent {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap, uint64_t seed)
    : initial_(std::max(initial, std::chrono::milliseconds(1))),
      cap_(std::max(cap, initial_)),
      random_(seed) {}

std::chrono::milliseconds Backoff::Next() {
  int64_t base = initial_.count();
  for (int i = 0; i < attempt_ && base < cap_.count(); ++i) base *= 2;
  base = std::min<int64_t>(base, cap_.count());
  if (attempt_ < 62) ++attempt_;
  std::uniform_int_distribution<int64_t> jitter(base / 2, base);
  return std::chrono::milliseconds(jitter(random_));
}

}  // namespace mailfleet::agent
