#include "watchdog.h"

#include <algorithm>

#include <pthread.h>
#include <sys/prctl.h>

namespace pyruntime {

namespace {
using Clock = std::chrono::steady_clock;
// How often a fired watchdog repeats TerminateExecution until JS has stopped.
constexpr auto kRepeatInterval = std::chrono::milliseconds(5);

// How long an idle watchdog keeps a timed sleep before sleeping until signalled.
constexpr auto kLinger = std::chrono::milliseconds(20);

double ToMs(timespec ts) { return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6; }

Clock::duration ToDuration(double ms) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms));
}
}  // namespace

Watchdog::Watchdog(v8::Isolate* isolate, std::function<void()> on_fire)
    : isolate_(isolate), on_fire_(std::move(on_fire)), thread_([this] { Run(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

double Watchdog::ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ToMs(ts);
}

double Watchdog::CpuMsOf(clockid_t clock) const {
  timespec ts{};
  clock_gettime(clock, &ts);
  return ToMs(ts);
}

void Watchdog::Arm(double wall_budget_ms, double cpu_budget_ms, double cpu_now_ms) {
  clockid_t clock{};
  pthread_getcpuclockid(pthread_self(), &clock);
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto now = Clock::now();
    armed_ = true;
    verdict_ = WatchdogVerdict::kNone;
    has_wall_deadline_ = wall_budget_ms > 0;
    if (has_wall_deadline_) wall_deadline_ = now + ToDuration(wall_budget_ms);
    has_cpu_deadline_ = cpu_budget_ms > 0;
    cpu_clock_ = clock;
    if (has_cpu_deadline_) cpu_deadline_ms_ = cpu_now_ms + cpu_budget_ms;
    // CPU time cannot pass faster than wall time: the CPU budget is due no sooner than
    // `now + cpu_budget_ms`. A thread already due to wake before both needs no signal,
    // which spares most calls a context switch.
    if (has_wall_deadline_ || has_cpu_deadline_) {
      double nearest = has_wall_deadline_ && has_cpu_deadline_ ? std::min(wall_budget_ms, cpu_budget_ms)
                       : has_wall_deadline_                    ? wall_budget_ms
                                                               : cpu_budget_ms;
      wake = now + ToDuration(nearest) < scheduled_wake_;
    }
  }
  if (wake) wake_.notify_all();
}

WatchdogVerdict Watchdog::Disarm() {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = false;
  return verdict_;
}

bool Watchdog::fired() {
  std::lock_guard<std::mutex> lock(mutex_);
  return verdict_ != WatchdogVerdict::kNone;
}

void Watchdog::Run() {
  // The kernel may delay timed wake-ups by the thread's timer slack (50 µs by default).
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  std::unique_lock<std::mutex> lock(mutex_);
  bool lingered = false;
  while (!stopping_) {
    auto now = Clock::now();
    if (!armed_) {
      if (lingered) {
        // Idle for a while: sleep until the next Arm signals.
        scheduled_wake_ = Clock::time_point::max();
        wake_.wait(lock);
      } else {
        // Back-to-back calls are the common case: a short timed sleep lets their Arm
        // find the thread due to wake anyway.
        lingered = true;
        scheduled_wake_ = now + kLinger;
        wake_.wait_until(lock, scheduled_wake_);
      }
      continue;
    }
    lingered = false;
    if (verdict_ != WatchdogVerdict::kNone) {
      isolate_->TerminateExecution();
      scheduled_wake_ = now + kRepeatInterval;
      wake_.wait_until(lock, scheduled_wake_);
      continue;
    }
    auto wake_at = now + std::chrono::hours(1);
    if (has_wall_deadline_) {
      if (now >= wall_deadline_) {
        verdict_ = WatchdogVerdict::kTimeout;
      } else {
        wake_at = wall_deadline_;
      }
    }
    if (verdict_ == WatchdogVerdict::kNone && has_cpu_deadline_) {
      double remaining = cpu_deadline_ms_ - CpuMsOf(cpu_clock_);
      if (remaining <= 0) {
        verdict_ = WatchdogVerdict::kCpu;
      } else {
        wake_at = std::min(wake_at, now + ToDuration(remaining));
      }
    }
    if (verdict_ != WatchdogVerdict::kNone) {
      isolate_->TerminateExecution();
      on_fire_();
      continue;
    }
    scheduled_wake_ = wake_at;
    wake_.wait_until(lock, scheduled_wake_);
  }
}

}  // namespace pyruntime
