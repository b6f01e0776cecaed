// Jittered exponential backoff for reconnects: the n-th delay is drawn uniformly from
// [base/2, base] with base = min(cap, initial * 2^n), so a fleet whose collector restarts does
// not reconnect in lockstep. Not thread-safe.
//   Backoff backoff(500ms, 30s, seed);
//   sleep(backoff.Next()); ... on success: backoff.Reset();
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace mailfleet::agent {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap, uint64_t seed);

  std::chrono::milliseconds Next();
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  const std::chrono::milliseconds initial_;
  const std::chrono::milliseconds cap_;
  int attempt_ = 0;
  std::mt19937_64 random_;
};

}  // namespace mailfleet::agent
