#include "watchdog.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sys/prctl.h>

#include "v8_platform.h"

namespace pyruntime {

namespace {
using Clock = std::chrono::steady_clock;
// How often a fired watchdog repeats TerminateExecution until JS has stopped.
constexpr auto kRepeatInterval = std::chrono::milliseconds(5);

// How long an idle watch thread keeps a timed sleep before sleeping until signalled.
constexpr auto kLinger = std::chrono::milliseconds(20);

// How far ahead the watch thread looks when no deadline is nearer.
constexpr auto kFarAway = std::chrono::hours(1);

double ToMs(timespec ts) { return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6; }

Clock::duration ToDuration(double ms) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms));
}

double CpuMsOf(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return ToMs(ts);
}

// The soonest `cpu_ms` of CPU can be spent: by the isolate's thread and every V8 worker at once.
double SoonestMs(double cpu_ms) { return cpu_ms / (1 + V8WorkerThreads()); }
}  // namespace

// The process's one watch thread and the watchdogs armed now. Made on first use and never
// destroyed: it sleeps on its condition variable until the process exits. A child made by
// fork() has no copy of the thread, so it makes its own on first use.
class WatchThread {
 public:
  static WatchThread& Get() {
    WatchThread* watch = current.load(std::memory_order_acquire);
    if (watch != nullptr) return *watch;
    auto* made = new WatchThread();
    if (!current.compare_exchange_strong(watch, made, std::memory_order_acq_rel)) {
      delete made;  // another thread made one first; `watch` is it
      return *watch;
    }
    std::thread([made] { made->Run(); }).detach();
    return *made;
  }

  std::mutex mutex;
  std::condition_variable wake;
  std::vector<Watchdog*> armed;  // under `mutex`
  // When the thread will next wake by itself (max while it waits for a signal).
  Clock::time_point scheduled_wake = Clock::time_point::max();

 private:
  WatchThread() = default;

  static std::atomic<WatchThread*> current;
  // In a forked child the parent's instance has no thread (and its lock may be held by a
  // thread that is gone): it is left behind, and the child's first watchdog makes another.
  static const int forget_in_child;

  void Run() {
    pthread_setname_np(pthread_self(), "pyruntime-watch");
    // The kernel may delay timed wake-ups by the thread's timer slack (50 µs by default).
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    std::unique_lock<std::mutex> lock(mutex);
    bool lingered = false;
    for (;;) {
      auto now = Clock::now();
      if (armed.empty()) {
        if (lingered) {
          // Idle for a while: sleep until the next Arm signals.
          scheduled_wake = Clock::time_point::max();
          wake.wait(lock);
        } else {
          // Back-to-back calls are the common case: a short timed sleep lets their Arm
          // find the thread due to wake anyway.
          lingered = true;
          scheduled_wake = now + kLinger;
          wake.wait_until(lock, scheduled_wake);
        }
        continue;
      }
      lingered = false;
      auto next = now + kFarAway;
      for (Watchdog* watchdog : armed) next = std::min(next, watchdog->Check(now));
      scheduled_wake = next;
      wake.wait_until(lock, next);
    }
  }
};

std::atomic<WatchThread*> WatchThread::current{nullptr};
const int WatchThread::forget_in_child =
    pthread_atfork(nullptr, nullptr, [] { current.store(nullptr, std::memory_order_release); });

Watchdog::Watchdog(v8::Isolate* isolate, const BackgroundAccount* background, std::function<void()> on_fire)
    : isolate_(isolate), background_(background), on_fire_(std::move(on_fire)) {}

Watchdog::~Watchdog() { Disarm(); }

double Watchdog::ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ToMs(ts);
}

void Watchdog::Arm(double wall_budget_ms, double cpu_budget_ms, double cpu_now_ms, int64_t background_ns,
                   WatchdogVerdict wall_verdict) {
  clockid_t clock{};
  pthread_getcpuclockid(pthread_self(), &clock);
  WatchThread& watch = WatchThread::Get();
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(watch.mutex);
    auto now = Clock::now();
    verdict_ = WatchdogVerdict::kNone;
    has_wall_deadline_ = wall_budget_ms > 0;
    if (has_wall_deadline_) wall_deadline_ = now + ToDuration(wall_budget_ms);
    wall_verdict_ = wall_verdict;
    has_cpu_deadline_ = cpu_budget_ms > 0;
    cpu_clock_ = clock;
    if (has_cpu_deadline_) cpu_deadline_ms_ = cpu_now_ms + cpu_budget_ms;
    background_start_ns_ = background_ns;
    if (has_wall_deadline_ || has_cpu_deadline_) {
      if (!armed_) watch.armed.push_back(this);
      armed_ = true;
      // A thread's CPU time cannot pass faster than wall time: the CPU budget is due no
      // sooner than SoonestMs(cpu_budget_ms) from now. A thread already due to wake before
      // both needs no signal, which spares most calls a context switch.
      double cpu_soonest = SoonestMs(cpu_budget_ms);
      double nearest = has_wall_deadline_ && has_cpu_deadline_ ? std::min(wall_budget_ms, cpu_soonest)
                       : has_wall_deadline_                    ? wall_budget_ms
                                                               : cpu_soonest;
      wake = now + ToDuration(nearest) < watch.scheduled_wake;
    }
  }
  if (wake) watch.wake.notify_one();
}

WatchdogVerdict Watchdog::Disarm() {
  WatchThread& watch = WatchThread::Get();
  std::lock_guard<std::mutex> lock(watch.mutex);
  if (armed_) {
    auto it = std::find(watch.armed.begin(), watch.armed.end(), this);
    if (it != watch.armed.end()) {
      *it = watch.armed.back();
      watch.armed.pop_back();
    }
    armed_ = false;
  }
  return verdict_;
}

bool Watchdog::fired() { return verdict_ != WatchdogVerdict::kNone; }

Watchdog::Clock::time_point Watchdog::Check(Clock::time_point now) {
  if (verdict_ != WatchdogVerdict::kNone) {
    if (now >= repeat_at_) {
      isolate_->TerminateExecution();
      repeat_at_ = now + kRepeatInterval;
    }
    return repeat_at_;
  }
  auto next = now + kFarAway;
  if (has_wall_deadline_) {
    if (now >= wall_deadline_) {
      verdict_ = wall_verdict_;
    } else {
      next = wall_deadline_;
    }
  }
  if (verdict_ == WatchdogVerdict::kNone && has_cpu_deadline_) {
    double background_ms =
        static_cast<double>(background_->CpuNs() - background_start_ns_) / 1e6;
    double remaining = cpu_deadline_ms_ - CpuMsOf(cpu_clock_) - background_ms;
    if (remaining <= 0) {
      verdict_ = WatchdogVerdict::kCpu;
    } else {
      next = std::min(next, now + ToDuration(SoonestMs(remaining)));
    }
  }
  if (verdict_ == WatchdogVerdict::kNone) return next;
  isolate_->TerminateExecution();
  on_fire_();
  repeat_at_ = now + kRepeatInterval;
  return repeat_at_;
}

}  // namespace pyruntime
