// Terminates JS that runs past its wall-clock or CPU-time budget.
//
// One thread per watchdog sleeps until the nearer of the two deadlines; Arm signals it
// only when it would otherwise wake too late. CPU time of a
// thread cannot advance faster than wall time, so sleeping for the remaining CPU budget
// and re-checking never oversleeps. After terminating, it repeats TerminateExecution
// until disarmed, in case V8 re-enters JS from a C++ callback.
#pragma once

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <functional>
#include <mutex>
#include <thread>

#include <v8.h>

namespace pyruntime {

enum class WatchdogVerdict { kNone, kTimeout, kCpu };

class Watchdog {
 public:
  // `on_fire` runs on the watchdog thread each time a limit fires (the process guard's clock).
  Watchdog(v8::Isolate* isolate, std::function<void()> on_fire);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Starts watching the calling thread. A budget <= 0 is unlimited.
  // `cpu_now_ms`: the calling thread's CPU time (ThreadCpuMs), which the caller has at hand.
  void Arm(double wall_budget_ms, double cpu_budget_ms, double cpu_now_ms);
  // Stops watching; returns which limit, if any, fired since Arm.
  WatchdogVerdict Disarm();

  // True once a limit fired since Arm: JS is being terminated.
  bool fired();

  // CPU time of the calling thread, in milliseconds.
  static double ThreadCpuMs();

 private:
  void Run();
  double CpuMsOf(clockid_t clock) const;

  v8::Isolate* const isolate_;
  const std::function<void()> on_fire_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool armed_ = false;
  bool stopping_ = false;
  bool has_wall_deadline_ = false;
  bool has_cpu_deadline_ = false;
  std::chrono::steady_clock::time_point wall_deadline_;
  // When the watchdog thread will next wake by itself (max while it waits for a signal).
  std::chrono::steady_clock::time_point scheduled_wake_ = std::chrono::steady_clock::time_point::max();
  double cpu_deadline_ms_ = 0;
  clockid_t cpu_clock_{};
  WatchdogVerdict verdict_ = WatchdogVerdict::kNone;
  std::thread thread_;
};

}  // namespace pyruntime
