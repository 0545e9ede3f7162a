// CPU that V8 spends for an isolate on its worker threads: compiling hot JS and WebAssembly
// (TurboFan tier-up), marking and sweeping its heap. Such work runs after, and beside, the
// calls that cause it; without an account no call pays for it, and a module made fresh for
// each request bought about ten times the request's own CPU in background compiles.
//
// The process's platform (v8_platform.cc) wraps V8's default one: a task or job posted on an
// isolate's thread, or from a task already charged to an isolate, is charged to that
// isolate's account as it runs, by the CPU clock of the thread that runs it. The runtime
// (runtime.cc) counts the account against its calls' CPU limit, and the host discards an
// isolate whose background work outruns its idle time (AppIsolate.background_spent).
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <v8-platform.h>

namespace v8 {
class Isolate;
}

namespace pyruntime {

// Safe from any thread. A task in progress is counted as far as it got: one compile job
// runs for seconds, and the watchdog must see it while it runs.
class BackgroundAccount {
 public:
  // Nanoseconds of worker-thread CPU charged so far.
  int64_t CpuNs() const;
  double CpuMs() const { return static_cast<double>(CpuNs()) / 1e6; }

  // Tasks charged here that V8 has not run or dropped, and jobs with work left: work that
  // may still spend CPU for the isolate (a compile job queued behind another isolate's).
  int InFlight() const { return in_flight_.load(std::memory_order_relaxed); }

  // The calling worker thread starts or ends a task charged here. Its CPU clock is read
  // under the lock, as CpuNs reads it: the account never goes back.
  void Started(clockid_t thread_clock);
  void Ended(clockid_t thread_clock);
  // A task or job charged here is made, or destroyed.
  void Posted() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void Gone() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  mutable std::mutex mutex_;
  int64_t ended_ns_ = 0;
  // The threads running its tasks now, with their CPU clocks at the start.
  std::vector<std::pair<clockid_t, int64_t>> running_;
  std::atomic<int> in_flight_{0};
};

// The isolate data slot holding a `std::shared_ptr<BackgroundAccount>*` (after handles.h's).
constexpr uint32_t kBackgroundAccountSlot = 2;

// Charges work posted for `isolate` from now on to `*account`, which must outlive the
// isolate (tasks keep their own reference to the account itself).
void AttachBackgroundAccount(v8::Isolate* isolate, std::shared_ptr<BackgroundAccount>* account);

// `inner`, with its worker tasks and jobs charged as above; `inner` stays V8's default
// platform, which `v8::platform::PumpMessageLoop` must be given.
std::unique_ptr<v8::Platform> NewChargingPlatform(v8::Platform* inner);

}  // namespace pyruntime
