#include "watchdog.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <cstdio>

namespace pyruntime {

namespace {
using Clock = std::chrono::steady_clock;
// How often a fired watchdog repeats TerminateExecution until JS has stopped.
constexpr auto kRepeatInterval = std::chrono::milliseconds(5);

double ToMs(timespec ts) { return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6; }
}  // namespace

Watchdog::Watchdog(v8::Isolate* isolate) : isolate_(isolate), thread_([this] { Run(); }) {}

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

void Watchdog::Arm(double wall_budget_ms, double cpu_budget_ms) {
  clockid_t clock{};
  pthread_getcpuclockid(pthread_self(), &clock);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = true;
    verdict_ = WatchdogVerdict::kNone;
    has_wall_deadline_ = wall_budget_ms > 0;
    if (has_wall_deadline_) {
      wall_deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double, std::milli>(wall_budget_ms));
    }
    has_cpu_deadline_ = cpu_budget_ms > 0;
    cpu_clock_ = clock;
    if (has_cpu_deadline_) cpu_deadline_ms_ = CpuMsOf(clock) + cpu_budget_ms;
  }
  wake_.notify_all();
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
  while (!stopping_) {
    if (!armed_) {
      wake_.wait(lock);
      continue;
    }
    if (verdict_ != WatchdogVerdict::kNone) {
      isolate_->TerminateExecution();
      wake_.wait_for(lock, kRepeatInterval);
      continue;
    }
    auto now = Clock::now();
    auto wait = std::chrono::duration_cast<Clock::duration>(std::chrono::hours(1));
    if (has_wall_deadline_) {
      if (now >= wall_deadline_) {
        verdict_ = WatchdogVerdict::kTimeout;
      } else {
        wait = wall_deadline_ - now;
      }
    }
    if (verdict_ == WatchdogVerdict::kNone && has_cpu_deadline_) {
      double remaining = cpu_deadline_ms_ - CpuMsOf(cpu_clock_);
      if (remaining <= 0) {
        verdict_ = WatchdogVerdict::kCpu;
      } else {
        auto cpu_wait = std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double, std::milli>(remaining));
        if (cpu_wait < wait) wait = cpu_wait;
      }
    }
    if (verdict_ != WatchdogVerdict::kNone) {
      isolate_->TerminateExecution();
      continue;
    }
    wake_.wait_for(lock, wait);
  }
}

}  // namespace pyruntime
