// Names the calling thread as `top -H`, perf and /proc/PID/task/*/comm show it (at most 15
// characters; longer names are cut).
//   std::thread t([] { NameThisThread("mf-uplink"); ... });
#pragma once

#include <pthread.h>

#include <string>

namespace mailfleet {

inline void NameThisThread(std::string name) {
  if (name.size() > 15) name.resize(15);
  pthread_setname_np(pthread_self(), name.c_str());
}

}  // namespace mailfleet
