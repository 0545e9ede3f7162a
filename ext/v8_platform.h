// V8 is initialised once per process, on first use.
#pragma once

#include <v8-platform.h>

namespace pyruntime {

void EnsureV8Initialized();

// The process's V8 platform: its foreground task queue is pumped by each runtime's event
// loop (FinalizationRegistry cleanups and other tasks V8 posts to an isolate). V8 itself is
// given a wrapper around it that charges worker-thread work to isolates (background_cpu.h).
v8::Platform* V8Platform();

// Threads V8 runs background work on (each may charge an isolate's account at once).
int V8WorkerThreads();

}  // namespace pyruntime
