// The event loop of one isolate: its timers and its pending host operations (promises the
// host settles later, deno_core's "ops"). It keeps them; the runtime decides, inside a slice,
// when due timers fire and when completed operations settle. Both are capped, and operation
// payloads count against the memory limit while the runtime holds them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <v8.h>

#include "host_value.h"
#include "limit_enforcer.h"

namespace pyruntime {

struct HostOp {
  uint64_t id = 0;
  std::string name;
  HostValue payload;
};

class EventLoop {
 public:
  static constexpr size_t kMaxTimers = 100000;
  static constexpr size_t kMaxHostOps = 1000;

  EventLoop(v8::Isolate* isolate, LimitEnforcer* memory) : isolate_(isolate), memory_(memory) {}
  ~EventLoop() { Reset(); }
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Past a cap these throw a RangeError in the isolate and return -1 / empty.
  int64_t StartTimer(v8::Local<v8::Function> callback, double delay_ms, bool repeat);
  void ClearTimer(int64_t id);
  v8::MaybeLocal<v8::Promise> StartHostOp(v8::Local<v8::Context> context, std::string name, HostValue payload);
  // From any thread, without the isolate's lock: a thread completing an operation must never
  // wait on a busy isolate.
  void CompleteOp(uint64_t id, bool ok, HostValue value);

  // Settles the operations completed since the last call.
  void ApplyCompletions(v8::Local<v8::Context> context);
  // Runs the due timers in order, each followed by a microtask checkpoint. `on_error` gets
  // what a callback threw; `stop` (termination) ends the run. True if any timer was due.
  bool FireDueTimers(v8::Local<v8::Context> context, const std::function<void(v8::TryCatch&)>& on_error,
                     const std::function<bool()>& stop);

  bool waiting() const { return !timers_.empty() || !ops_.empty(); }
  // Until the next timer is due; -1 if none.
  double NextTimerMs() const;
  // The operations started since the last call, for the host (no longer counted here).
  std::vector<HostOp> TakeNewOps();
  // Drops every timer, operation and completion (a call ended or was cancelled).
  void Reset();
  // True when Reset would drop nothing: no timer, operation or completion is held.
  bool Empty();

 private:
  using Clock = std::chrono::steady_clock;
  struct Timer {
    Clock::time_point due;
    double interval_ms;
    bool repeat;
    v8::Global<v8::Function> callback;
  };
  struct Completion {
    uint64_t id;
    bool ok;
    HostValue value;
  };

  v8::Isolate* const isolate_;
  LimitEnforcer* const memory_;
  int64_t next_timer_id_ = 1;
  std::map<int64_t, Timer> timers_;
  uint64_t next_op_id_ = 1;
  std::map<uint64_t, v8::Global<v8::Promise::Resolver>> ops_;
  std::vector<HostOp> new_ops_;
  size_t new_ops_bytes_ = 0;
  std::mutex completions_mutex_;  // completions arrive from any thread
  std::vector<Completion> completions_;
  size_t completion_bytes_ = 0;
};

}  // namespace pyruntime
