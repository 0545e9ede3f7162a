// Runtime: one V8 isolate with its context, limits, event loop and host operations.
//
// Every public method locks the isolate (v8::Locker), so a Runtime may be driven from
// any thread, one call at a time. None of them touch Python: the Cython binding calls
// them with the GIL released.
//
// A *call* (Eval, Call, CallInternal, EvaluateModule, BindWorkerModule, RunLoop) runs JS in
// *slices*. Each slice runs under the watchdog with what remains of the call's wall-clock
// and CPU budgets, and stops at the call's total deadline if the host set one. When the call waits for a promise that timers or host operations may
// still settle, it returns kPending: the caller waits (off the isolate, no budget spent),
// then calls Resume() for the next slice. I/O stays on the caller's side.
//
// Where each job lives: calls and slices in runtime.cc, modules in runtime_modules.cc, timers
// and host operations in event_loop.h, console output in console_buffer.h, the memory budget
// in limit_enforcer.h, time and CPU budgets in watchdog.h, escalation in process_guard.h.
// Natives see only host_interface.h.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <v8.h>

#include "console_buffer.h"
#include "event_loop.h"
#include "host_interface.h"
#include "handles.h"
#include "host_value.h"
#include "isolate_limits.h"
#include "limit_enforcer.h"
#include "process_guard.h"
#include "watchdog.h"

namespace pyruntime {

enum class Status {
  kOk,
  kJsError,          // uncaught exception or rejection: error_* fields
  kTimeout,          // wall-clock limit of JS execution
  kCpuLimit,         // CPU-time limit
  kMemoryLimit,      // heap limit; the isolate is disposed
  kUnsettled,        // awaited promise can never settle
  kPending,          // waiting on timers or host operations: call Resume()
  kClosed,           // the runtime was disposed
  kConversionError,  // the result cannot become a host value
  kTerminated,       // stopped by Terminate()
  kDeadline,         // a slice ran into the call's total deadline (SetCallDeadline)
};

struct Outcome {
  Status status = Status::kOk;
  HostValue value;
  std::string error_name;
  std::string error_message;
  std::string error_stack;
  double wall_ms = 0;         // JS time of the whole call so far (waits excluded)
  double cpu_ms = 0;
  double next_timer_ms = -1;  // kPending: until the next timer is due; -1 if none
  std::vector<HostOp> ops;    // host operations started since the last return
  int unhandled_rejections = 0;  // rejections no handler or listener took, since the last return
  std::vector<ConsoleLine> console;
};

struct ModuleLink {
  std::string referrer;
  std::string specifier;
  std::string resolved;
};

struct HeapStats {
  size_t used_heap_size = 0;
  size_t total_heap_size = 0;
  size_t heap_size_limit = 0;
  size_t external_memory = 0;
  size_t array_buffer_bytes = 0;
  size_t malloced_memory = 0;
  size_t memory_limit = 0;
};

class Runtime final : private HostInterface {
 public:
  explicit Runtime(const IsolateLimits& limits);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Runs a classic script. With `use_result`, its completion value is the call's result
  // (awaited if a promise); without, it is discarded, as when a file runs as a program.
  Outcome Eval(const std::string& source, const std::string& filename, bool use_result = true);
  Outcome Call(const std::string& function, const std::vector<HostValue>& args);
  // Calls a function the bootstrap put on its private `internal` object.
  // `fresh`: drops what earlier calls left first (see RunSlice), sparing the host a CancelCall.
  Outcome CallInternal(const std::string& function, const std::vector<HostValue>& args, bool fresh = false);
  // CallInternal(function, args, fresh=true) for each of `calls` in turn, within one entry
  // into the isolate, while `go_on` says the call that just ended leaves the isolate to the
  // next: the server's JS pass (fetch_series.h), with no host code between two requests to
  // evict V8's code and data from the CPU's caches. Between two calls a Terminate() or
  // deadline the first was given is dropped, as ClearTerminate does. The outcomes of the
  // calls made, in order; the caller ends the last call as it would end CallInternal's.
  std::vector<Outcome> CallInternalSeries(const std::string& function,
                                          const std::vector<std::vector<HostValue>>& calls,
                                          const std::function<bool(const Outcome&)>& go_on);
  // Compiles a module; the value lists its import specifiers in order. A non-empty
  // `code_cache` (from ModuleCodeCache of the same source) spares compiling what it holds;
  // V8 checks it and compiles from source if it does not fit.
  Outcome CompileModule(const std::string& name, const std::string& source, const std::string& code_cache = {});
  // The compiled code of a module as V8's code cache: its top level and every function
  // compiled so far (so taken after requests ran, it holds the request path). Empty if
  // the module is unknown or V8 cannot serialise it.
  std::string ModuleCodeCache(const std::string& name);
  // Links (with every import resolved by the caller) and evaluates a compiled module.
  Outcome EvaluateModule(const std::string& name, const std::vector<ModuleLink>& links);
  // Hands an evaluated module's namespace to internal.setWorkerModule.
  Outcome BindWorkerModule(const std::string& name);
  // Runs timers until none are left (like a script's process lifetime).
  Outcome RunLoop();
  // Handles (handles.h): values a result held by id. Calls a function handle (awaiting a
  // promise result, as Call does); reads one property (never awaited); lists own enumerable
  // string keys; awaits a promise handle. ReleaseHandle is safe from any thread.
  Outcome CallHandle(uint64_t id, const std::vector<HostValue>& args);
  Outcome GetHandleProperty(uint64_t id, const HostValue& key);
  Outcome HandleKeys(uint64_t id);
  Outcome AwaitHandle(uint64_t id);
  void ReleaseHandle(uint64_t id) { handles_.Release(id); }
  // Next slice of a call that returned kPending.
  Outcome Resume();
  // Drops what a pending call waits for (the caller gave up on it), and its timers.
  void CancelCall();
  // Completes a host operation; `value` is its result, or the error message if !ok.
  // Applied at the start of the next slice. Safe from any thread, even while JS runs.
  void CompleteOp(uint64_t id, bool ok, HostValue value);

  // Stops the host's call in progress from any thread: its JS is terminated and it returns
  // kTerminated, even when the request arrives before the call reaches the core. The host
  // calls ClearTerminate() when its call is over, so that a late request cannot stop the next.
  void Terminate();
  // Also drops the call's total deadline: the call is over.
  void ClearTerminate() {
    terminate_requested_ = false;
    call_deadline_ = kNoDeadline;
  }
  // The host's call must end within `ms` from now, waits between slices included: a slice
  // still running then returns kDeadline. The host keeps the deadline between slices (it
  // waits there) and sets it before them; ClearTerminate drops it. Safe from any thread.
  void SetCallDeadline(double ms);

  HeapStats Stats();
  // A full collection that gives memory back (V8's LowMemoryNotification): for an idle
  // isolate, which V8 collects only when its JS allocates again. Not during a call.
  void ReduceMemory();
  // CPU that V8's worker threads spent for the isolate (background_cpu.h): in all, and what
  // no call counted yet (spent after the last slice of the last call). Safe from any thread.
  double BackgroundCpuMs() const { return background_->CpuMs(); }
  double UnbilledBackgroundMs() const {
    return static_cast<double>(background_->CpuNs() -
                               background_billed_ns_.load(std::memory_order_relaxed)) / 1e6;
  }
  // The CPU the call in progress, or the last one, was charged (its thread's and background).
  double CallCpuMs() const { return call_cpu_ms_; }
  // Worker-thread tasks and jobs for the isolate not finished yet.
  int BackgroundInFlight() const { return background_->InFlight(); }
  bool alive() const { return isolate_ != nullptr; }
  void Dispose();

 private:
  using Clock = std::chrono::steady_clock;
  enum class Goal { kValue, kPromise, kDrain };
  class Slice;

  // Enters the snapshot's context and finds the bootstrap's private objects.
  void Bootstrap();
  void BeginCall();
  // Enters the isolate and runs `body(context, slice, try_catch)` as one slice: the start of
  // a new call with `new_call` as its goal, or (nullopt) the next slice of the current one.
  // Disposes the isolate afterwards if the memory limit was hit.
  using SliceBody = std::function<Outcome(v8::Local<v8::Context>, Slice&, v8::TryCatch&)>;
  // `fresh`: a new call that first drops what earlier calls left (timers, pending operations),
  // as CancelCall does, in the same entry into the isolate.
  Outcome RunSlice(std::optional<Goal> new_call, const SliceBody& body, bool fresh = false);
  // RunSlice's work, by a caller that holds the isolate's lock and has entered it.
  Outcome RunLockedSlice(std::optional<Goal> new_call, const SliceBody& body, bool fresh);
  // The slice that calls internal `function` with `args` (both must outlive it).
  SliceBody InternalCall(const std::string& function, const std::vector<HostValue>& args);
  v8::MaybeLocal<v8::Value> CallFunction(v8::Local<v8::Context> context, v8::Local<v8::Value> function,
                                         v8::Local<v8::Value> receiver, const std::vector<HostValue>& args);
  Outcome Finish(Slice& slice, v8::TryCatch& try_catch, v8::MaybeLocal<v8::Value> result);
  Outcome Pump(Slice& slice);
  // Ends a slice: turns what stopped it (a limit, terminate(), the memory limit) into the
  // outcome's status, and hands the slice's console lines and new operations to the host.
  Outcome Conclude(Slice& slice, Outcome outcome);
  // True once the watchdog or the heap limit stopped JS. V8's own IsExecutionTerminating()
  // turns false as soon as no JS frame is left, which is too early for the event loop.
  bool Terminating();
  void ReportUnhandledRejections(v8::Local<v8::Context> context);
  void ResetLoop();
  Outcome ErrorOutcome(v8::TryCatch& try_catch);
  Outcome ClosedOutcome() const;
  static Outcome ExitingOutcome();
  v8::Local<v8::Value> InternalFunction(v8::Local<v8::Context> context, const std::string& name);
  // Throws a SyntaxError into the slice for a source past kMaxPropertyEscapes (regexp_sources.h).
  bool RefuseManyPropertyEscapes(const std::string& source);
  static Runtime* Of(v8::Isolate* isolate) { return static_cast<Runtime*>(HostInterface::Of(isolate)); }

  // HostInterface, for the natives.
  void Print(std::string level, std::string text) override { console_->Print(std::move(level), std::move(text)); }
  void DropConsoleLine() override { console_->Drop(); }
  int64_t StartTimer(v8::Local<v8::Function> callback, double delay_ms, bool repeat) override {
    return loop_->StartTimer(callback, delay_ms, repeat);
  }
  void ClearTimer(int64_t id) override { loop_->ClearTimer(id); }
  v8::MaybeLocal<v8::Promise> StartHostOp(v8::Local<v8::Context> context, std::string name,
                                          HostValue payload) override {
    return loop_->StartHostOp(context, std::move(name), std::move(payload));
  }
  double NowMs() const override;
  size_t MemoryLimit() const override { return limits_.memory_limit_bytes; }
  size_t MemoryAvailable() override { return memory_->Available(); }
  bool StopRequested() override { return Terminating(); }
  // The value of handle `id`; throws a ReferenceError (and returns empty) if it was released.
  v8::MaybeLocal<v8::Value> HandleValue(uint64_t id);

  static void OnPromiseReject(v8::PromiseRejectMessage message);
  static v8::MaybeLocal<v8::Promise> ImportDynamically(v8::Local<v8::Context> context,
                                                      v8::Local<v8::Data> host_defined_options,
                                                      v8::Local<v8::Value> resource_name,
                                                      v8::Local<v8::String> specifier,
                                                      v8::Local<v8::FixedArray> import_assertions);
  static v8::MaybeLocal<v8::Module> ResolveModule(v8::Local<v8::Context> context,
                                                  v8::Local<v8::String> specifier,
                                                  v8::Local<v8::FixedArray> import_assertions,
                                                  v8::Local<v8::Module> referrer);
  // The built-in module `cloudflare:workers`, made at its first import (runtime_modules.cc).
  static constexpr const char* kWorkersModule = "cloudflare:workers";
  v8::MaybeLocal<v8::Module> WorkersModule(v8::Local<v8::Context> context);
  static v8::MaybeLocal<v8::Value> EvaluateWorkersModule(v8::Local<v8::Context> context,
                                                         v8::Local<v8::Module> module);
  // Its exports and their names, from the bootstrap; false (an exception pending) if that failed.
  bool WorkersModuleExports(v8::Local<v8::Context> context, v8::Local<v8::Object>* exports,
                            v8::Local<v8::Array>* names);

  IsolateLimits limits_;
  GuardedIsolate guarded_;
  // Outlives the isolate: V8 frees ArrayBuffers through its allocator while disposing.
  std::unique_ptr<LimitEnforcer> memory_;
  v8::Isolate* isolate_ = nullptr;
  // What V8's worker threads spent for the isolate (background_cpu.h); tasks in flight hold
  // it too. The isolate's data slot points at this member.
  std::shared_ptr<BackgroundAccount> background_ = std::make_shared<BackgroundAccount>();
  // The account's CPU counted so far in calls (or, at a call's start, left out as between calls).
  std::atomic<int64_t> background_billed_ns_{0};
  std::unique_ptr<Watchdog> watchdog_;
  v8::Global<v8::Context> context_;
  v8::Global<v8::Object> internal_;
  // The internal functions called so far, by name: a name looked up on `internal_` costs its
  // internalization on every call (the server makes one such call per request).
  std::map<std::string, v8::Global<v8::Function>, std::less<>> internal_functions_;
  // The bootstrap's own Object.keys (internal.objectKeys), taken once at bootstrap: the
  // conversions of results list plain objects' keys with it (FromJs).
  v8::Global<v8::Function> object_keys_;
  Clock::time_point start_;
  double time_origin_ms_ = 0;
  // Both live as long as the Runtime (CompleteOp may race with Dispose); Dispose empties them.
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<ConsoleBuffer> console_;
  std::atomic<bool> in_call_{false};
  std::atomic<bool> terminate_requested_{false};

  // The call in progress.
  Goal goal_ = Goal::kValue;
  v8::Global<v8::Promise> awaited_;
  double call_wall_ms_ = 0;
  double call_cpu_ms_ = 0;
  // Within a series (CallInternalSeries), the thread's CPU clock as the last slice ended: the
  // next slice starts from it instead of reading the clock again (a system call each).
  double series_cpu_ms_ = -1;
  // Clock ticks since its epoch; a caller that gave up on a call may clear it while a slice starts.
  static constexpr Clock::rep kNoDeadline = 0;
  std::atomic<Clock::rep> call_deadline_{kNoDeadline};

  // Rejected promises without a handler, reported at the end of each microtask checkpoint.
  std::vector<std::pair<v8::Global<v8::Promise>, v8::Global<v8::Value>>> rejections_;
  int unhandled_rejections_ = 0;

  HandleTable handles_;

  // Modules by name, and the caller's resolution of each (referrer, specifier).
  std::map<std::string, v8::Global<v8::Module>> modules_;
  // `cloudflare:workers`, apart from the app's modules: a file of the app may have that name.
  v8::Global<v8::Module> workers_module_;
  // Each module's script, kept from compile time: V8 gives it only for unevaluated modules.
  std::map<std::string, v8::Global<v8::UnboundModuleScript>> module_scripts_;
  std::map<std::pair<std::string, std::string>, std::string> links_;
};

}  // namespace pyruntime
