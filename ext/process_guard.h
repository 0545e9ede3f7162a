// The last line of containment: where V8 cannot be stopped from inside, the process ends
// and the supervisor replaces it (issue 7, "Escalation").
//
// One thread per process, off until EnableProcessGuard (the server calls it for its worker
// processes; the embedding Isolate API never kills its host unless asked). Every
// kPollInterval while any isolate runs JS, else every kIdlePollInterval, it checks:
//   - each isolate that is running JS: if its termination was requested (time or CPU limit,
//     memory limit, Terminate()) more than `grace_ms` ago and JS still runs (inside a
//     builtin, OpenSSL, a regex or the GC, none of which see TerminateExecution), the
//     process ends;
//   - the process's resident memory (/proc/self/statm): above its resident size when the
//     guard was enabled, plus every live isolate's memory limit, plus `allowance_bytes`,
//     for longer than kRssWindow, the process ends.
// Ending means one JSON log line on stdout (the shape of pyruntime's logs: timestamp, level,
// event "worker_abort", reason, pid) and _exit(kWorkerAbortExitCode).
//
// V8's own fatal errors (out of memory inside a builtin, a failed CHECK) end the process
// too; the handlers installed here write one JSON line (event "v8_fatal") before it ends with
// kV8FatalExitCode, so the log stays JSON. V8 prints its own diagnostics to stderr first.
//
// The guard's registry of isolates also serves the host's exit (StopForExit, on in every
// process): JS still running on other threads is stopped before the exit handlers run.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <v8.h>

namespace pyruntime {

constexpr int kWorkerAbortExitCode = 87;  // the guard ended the process
constexpr int kV8FatalExitCode = 88;      // V8 reached a fatal error; the line says which
// The defaults the server uses: 256 MB beyond the isolates' limits (two isolates using their
// heap headroom at once, limit_enforcer.h), and half a second for JS to stop.
constexpr size_t kDefaultAllowanceBytes = size_t{256} << 20;
constexpr double kDefaultGraceMs = 500;
constexpr auto kPollInterval = std::chrono::milliseconds(10);
// With no JS running nothing can get stuck, and memory is sampled four times per kRssWindow:
// an idle worker's guard cost it 0.4% of a core at kPollInterval.
constexpr auto kIdlePollInterval = std::chrono::milliseconds(50);
constexpr auto kRssWindow = std::chrono::milliseconds(200);

// The guard's view of one isolate; the runtime that owns it reports when JS runs and when
// its termination was requested. Registered for its lifetime.
class GuardedIsolate {
 public:
  explicit GuardedIsolate(size_t memory_limit_bytes);
  ~GuardedIsolate();
  GuardedIsolate(const GuardedIsolate&) = delete;
  GuardedIsolate& operator=(const GuardedIsolate&) = delete;

  // The V8 isolate that StopForExit terminates; null before it is made and once disposed.
  void Attach(v8::Isolate* isolate);
  void SliceStarted();
  void SliceEnded();
  // From any thread; counts only while a slice runs.
  void StopRequested();

 private:
  friend class ProcessGuard;
  const size_t memory_limit_bytes_;
  std::atomic<v8::Isolate*> isolate_{nullptr};
  std::atomic<bool> in_slice_{false};
  std::atomic<int64_t> stop_requested_ns_{0};  // steady clock; 0 when none
};

// Starts the guard (or updates its settings). `grace_ms` must be in (0, 1000].
void EnableProcessGuard(size_t allowance_bytes, double grace_ms);
bool ProcessGuardEnabled();

// For the host's exit (the Python module registers it with atexit): from now on no slice
// starts, the running ones are terminated, and this waits up to `wait_ms` for them to end.
// Else the C library's exit handlers (OpenSSL's, C++ statics) would run under JS that goes
// on in another thread (a daemon thread's call), and the process would die of SIGSEGV.
// True when no slice runs any more.
bool StopForExit(double wait_ms);
// True once StopForExit was called: a new slice ends at once, terminated.
bool ProcessExiting();

// V8's out-of-memory and fatal-error callbacks for `isolate` (and once, process-wide).
void InstallFatalErrorHandlers(v8::Isolate* isolate);

}  // namespace pyruntime
