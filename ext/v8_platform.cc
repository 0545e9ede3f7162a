#include "v8_platform.h"

#include <cstdlib>
#include <mutex>
#include <string>

#include <libplatform/libplatform.h>
#include <v8.h>

#include "background_cpu.h"
#include "process_allocator.h"
#include "wasm_limits.h"

namespace pyruntime {

namespace {
// Made once and never destroyed: V8 cannot be re-initialised after disposal, and a platform
// destroyed by the process's exit handlers (as a static unique_ptr was) joins and frees
// V8's worker threads while other threads may still run JS or post tasks to them.
v8::Platform* platform = nullptr;
// What V8 itself is given: `platform`, charging worker-thread work to isolates (background_cpu.h).
v8::Platform* charging = nullptr;
// Read on every slice (the watchdog's arithmetic): asked of the platform once.
int worker_threads = 0;
}  // namespace

void EnsureV8Initialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    ConfigureProcessAllocator();
    // The snapshot blob is made in this process (startup_snapshot.cc), so checking its
    // checksum on every new isolate (an adler32 over megabytes) guards against nothing.
    v8::V8::SetFlagsFromString("--no-verify-snapshot-checksum");
    // A module's functions compile on their first call, as V8 11 does by default (V8 10 compiled
    // all of them before the module existed); each table is bounded (wasm_limits.h).
    v8::V8::SetFlagsFromString("--wasm-lazy-compilation");
    v8::V8::SetFlagsFromString(("--wasm-max-table-size=" + std::to_string(kMaxWasmTableEntries)).c_str());
    // For profiling, as `node --v8-options` allows (`--perf-basic-prof` names JIT code for perf).
    // Set by whoever starts the process; apps cannot reach it.
    if (const char* flags = std::getenv("PYRUNTIME_V8_FLAGS")) v8::V8::SetFlagsFromString(flags);
    platform = v8::platform::NewDefaultPlatform().release();
    charging = NewChargingPlatform(platform).release();
    worker_threads = platform->NumberOfWorkerThreads();
    v8::V8::InitializePlatform(charging);
    v8::V8::Initialize();
  });
}

v8::Platform* V8Platform() { return platform; }

int V8WorkerThreads() { return worker_threads; }

}  // namespace pyruntime
