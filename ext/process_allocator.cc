#include "process_allocator.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace pyruntime {

namespace {

constexpr int kMmapThresholdBytes = 4 << 20;
constexpr int kTrimThresholdBytes = 8 << 20;

bool EnvironmentSetsMalloc() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  return (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) ||
         std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr || std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr;
}

}  // namespace

void ConfigureProcessAllocator() {
#if defined(__GLIBC__)
  if (EnvironmentSetsMalloc()) return;
  mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes);
  mallopt(M_TRIM_THRESHOLD, kTrimThresholdBytes);
#endif
}

}  // namespace pyruntime
