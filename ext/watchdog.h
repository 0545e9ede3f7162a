// Terminates JS that runs past its wall-clock or CPU-time budget, or past its call's total
// deadline (which is a wall-clock budget too, with a verdict of its own).
//
// One thread per process watches every armed watchdog: it sleeps until the nearest
// deadline among them, and Arm signals it only when it would otherwise wake too late.
// A thread per isolate would cost a stack and two memory mappings each, and V8 reads the
// whole memory map whenever it makes an isolate. CPU time of a thread cannot advance faster
// than wall time, so sleeping for the remaining CPU budget and re-checking never
// oversleeps. After terminating, it repeats TerminateExecution until disarmed, in case V8
// re-enters JS from a C++ callback. What it runs on firing (TerminateExecution, `on_fire`)
// takes no lock, so no isolate can hold the others' watch up. The CPU budget also counts
// what V8's worker threads spend for the isolate meanwhile (background_cpu.h), read under the
// account's own lock, which is only ever held to read or note a few clocks.
#pragma once

#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>

#include <v8.h>

#include "background_cpu.h"

namespace pyruntime {

// kDeadline: the wall budget that fired was the call's total deadline, not the slice's limit.
enum class WatchdogVerdict { kNone, kTimeout, kCpu, kDeadline };

class Watchdog {
 public:
  // `on_fire` runs on the watch thread each time a limit fires (the process guard's clock).
  // `background`: the isolate's account of worker-thread CPU, which must outlive the watchdog.
  Watchdog(v8::Isolate* isolate, const BackgroundAccount* background, std::function<void()> on_fire);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Starts watching the calling thread. A budget <= 0 is unlimited.
  // `cpu_now_ms`: the calling thread's CPU time (ThreadCpuMs), which the caller has at hand.
  // `background_ns`: the background account's CPU already counted (the budget is spent by
  // what it adds from there). `wall_verdict`: what the wall budget firing means (kTimeout,
  // or kDeadline when the call's total deadline is nearer than the slice's own wall limit).
  void Arm(double wall_budget_ms, double cpu_budget_ms, double cpu_now_ms, int64_t background_ns,
           WatchdogVerdict wall_verdict = WatchdogVerdict::kTimeout);
  // Stops watching; returns which limit, if any, fired since Arm.
  WatchdogVerdict Disarm();

  // True once a limit fired since Arm: JS is being terminated.
  bool fired();

  // CPU time of the calling thread, in milliseconds.
  static double ThreadCpuMs();

 private:
  friend class WatchThread;
  using Clock = std::chrono::steady_clock;

  // On the watch thread, under its lock: fires if a deadline passed (or repeats the
  // termination), and returns when this watchdog next needs a look.
  Clock::time_point Check(Clock::time_point now);

  v8::Isolate* const isolate_;
  const BackgroundAccount* const background_;
  const std::function<void()> on_fire_;
  // Guarded by the watch thread's lock.
  bool armed_ = false;
  bool has_wall_deadline_ = false;
  bool has_cpu_deadline_ = false;
  WatchdogVerdict wall_verdict_ = WatchdogVerdict::kTimeout;
  Clock::time_point wall_deadline_;
  Clock::time_point repeat_at_;
  double cpu_deadline_ms_ = 0;
  int64_t background_start_ns_ = 0;
  clockid_t cpu_clock_{};
  // Written under the lock; read without it by fired(), which natives ask in their loops.
  std::atomic<WatchdogVerdict> verdict_{WatchdogVerdict::kNone};
};

}  // namespace pyruntime
