// The per-isolate limits every execution runs under.
#pragma once

#include <cstddef>

namespace pyruntime {

struct IsolateLimits {
  // V8 heap plus ArrayBuffer memory, in bytes.
  size_t memory_limit_bytes = 128u * 1024 * 1024;
  // Wall-clock milliseconds one call may spend running JS (waits excluded); <= 0 disables.
  double timeout_ms = 50;
  // CPU milliseconds of the thread running JS for one call, with what V8's worker threads
  // spend for the isolate meanwhile (background_cpu.h); <= 0 disables.
  double cpu_limit_ms = 50;
};

}  // namespace pyruntime
